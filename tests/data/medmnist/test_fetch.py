"""Downloads against a real HTTP server on 127.0.0.1: MD5 check, atomic write, failures leave
no file (interrupted transfer, MD5 mismatch, HTTP error), and `radlens data fetch`."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from _support.medmnist import make_arrays, official_md5

from radlens.cli import main
from radlens.data.download import download_file
from radlens.data.medmnist.load import fetch_medmnist, get_info, load_medmnist
from radlens.errors import DataError

FILES: dict[str, bytes] = {}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        mode, _, name = path.strip("/").partition("/")
        body = FILES.get(name)
        if body is None:
            self.send_error(404, "not found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if mode != "nolength":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode in ("cut", "nolength"):  # server drops the connection half-way
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RADLENS_CACHE_DIR", str(tmp_path / "cache"))


def _npz_bytes(name: str, size: int = 28) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **make_arrays(name, size, n=(40, 8, 10)))
    return buf.getvalue()


def test_download_file_ok(server: str, tmp_path: Path) -> None:
    FILES["a.bin"] = bytes(range(256)) * 5000
    md5 = hashlib.md5(FILES["a.bin"]).hexdigest()
    target = download_file(f"{server}/ok/a.bin", tmp_path / "sub" / "a.bin", md5=md5)
    assert target.read_bytes() == FILES["a.bin"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.bin"]


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("cut", r"incomplete: connection closed after \d+ of 1280000 bytes"),
        ("nolength", r"has MD5 [0-9a-f]{32}, expected"),  # no length header: MD5 catches it
    ],
)
def test_interrupted_download_leaves_no_file(
    server: str, tmp_path: Path, mode: str, message: str
) -> None:
    FILES["b.bin"] = bytes(range(256)) * 5000
    md5 = hashlib.md5(FILES["b.bin"]).hexdigest()
    with pytest.raises(DataError, match=message):
        download_file(f"{server}/{mode}/b.bin", tmp_path / "b.bin", md5=md5)
    assert list(tmp_path.iterdir()) == []


def test_md5_mismatch_and_http_error_leave_no_file(server: str, tmp_path: Path) -> None:
    FILES["c.bin"] = b"payload" * 1000
    with pytest.raises(DataError, match=r"has MD5 [0-9a-f]{32}, expected 0{32}.*discarded"):
        download_file(f"{server}/ok/c.bin", tmp_path / "c.bin", md5="0" * 32)
    with pytest.raises(DataError, match=r"HTTP 404"):
        download_file(f"{server}/ok/missing.bin", tmp_path / "c.bin", md5=None)
    assert list(tmp_path.iterdir()) == []
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(DataError, match=r"cannot write into .*file"):
        download_file(f"{server}/ok/c.bin", blocker / "c.bin", md5=None)


def test_fetch_medmnist_then_load_official(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _npz_bytes("dermamnist", 64)
    FILES["dermamnist_64.npz"] = body
    official_md5(monkeypatch, "dermamnist", 64, hashlib.md5(body).hexdigest())
    path = fetch_medmnist("dermamnist", 64, tmp_path, url=f"{server}/ok/dermamnist_64.npz")
    assert path == tmp_path / "dermamnist_64.npz" and path.read_bytes() == body
    ds = load_medmnist("dermamnist", 64, data_dir=tmp_path)
    assert ds.official and ds.images["train"].shape == (40, 64, 64, 3)
    # already there with the right MD5: no second download (the URL would now fail)
    assert fetch_medmnist("dermamnist", 64, tmp_path, url=f"{server}/ok/gone.npz") == path


def test_fetch_with_catalogue_url_and_bad_existing_file(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from radlens.data.medmnist import catalogue as medmnist_catalogue

    body = _npz_bytes("breastmnist")
    FILES["breastmnist.npz"] = body
    catalogue = dict(medmnist_catalogue._catalogue())
    info = catalogue["breastmnist"]
    files = {**info.files, 28: (f"{server}/ok/breastmnist.npz", hashlib.md5(body).hexdigest())}
    catalogue["breastmnist"] = dataclasses.replace(info, files=files)
    monkeypatch.setattr(medmnist_catalogue, "_catalogue", lambda: catalogue)
    (tmp_path / "breastmnist.npz").write_bytes(b"stale half file")
    assert fetch_medmnist("breastmnist", 28, tmp_path).read_bytes() == body


def test_cli_fetch_and_failure(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = _npz_bytes("pneumoniamnist")
    FILES["pneumoniamnist.npz"] = body
    official_md5(monkeypatch, "pneumoniamnist", 28, hashlib.md5(body).hexdigest())
    args = ["data", "fetch", "pneumoniamnist", "--size", "28", "--dest", str(tmp_path)]
    assert main([*args, "--url", f"{server}/cut/pneumoniamnist.npz"]) == 2
    err = capsys.readouterr().err
    assert "incomplete" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
    assert main([*args, "--url", f"{server}/ok/pneumoniamnist.npz"]) == 0
    assert "MD5 verified" in capsys.readouterr().out
    assert (tmp_path / "pneumoniamnist.npz").read_bytes() == body
    assert main(["data", "fetch", "pneumonia", "--dest", str(tmp_path)]) == 2
    assert "did you mean 'pneumoniamnist'" in capsys.readouterr().err
    assert get_info("pneumoniamnist").file_name(28) == "pneumoniamnist.npz"
