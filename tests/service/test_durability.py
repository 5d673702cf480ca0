"""Fault injection: a C-STORE Success survives SIGKILL / SIGTERM of `radlens serve` at any point.

dcmtk's `storescu -v` sends 200 small CT instances to a real `radlens serve` process, which is
killed after a random delay; 20 rounds. Each round's verbose log names the file of each request
and its response, so every acknowledged SOP Instance UID is known. After the last round a fresh
`radlens serve` (a plain subprocess of the CLI) starts and sweeps the store; then every
acknowledged UID must be indexed exactly once with its file, and no blob may lack a row.

The rounds' servers are forked from this test process after its imports and run the CLI's
`serve` command (the same code as the `radlens` script) so a restart takes well under a second
instead of the ~6 s of Python imports; the kills hit a real, separate server process.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from _support.service import write_series
from _support.service_fixtures import free_port, need_program
from sqlalchemy import func, select

from radlens.cli import app as cli_app
from radlens.service.ingest import ORPHAN_MIN_AGE_S
from radlens.service.store import Database, Instance

pytestmark = pytest.mark.integration
ROUNDS = 20
SENDING = re.compile(r"Sending file: (\S+)")
RESPONSE = re.compile(r"Received Store Response \((\w+)")


def _env(service_dir: Path, dicom_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "RADLENS_SERVICE_DIR": str(service_dir),
        "RADLENS_DICOM_PORT": str(dicom_port),
        "RADLENS_HTTP_PORT": str(free_port()),
        "RADLENS_ENABLE_WORKER": "false",
        "RADLENS_ALLOWED_CALLING_AES": "STORESCU",
    }


def _fork_server(env: dict[str, str], log_path: Path) -> int:
    """`radlens serve` in a forked child (the CLI's own command); returns its pid."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns into pytest
        try:
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.environ.clear()
            os.environ.update(env)
            cli_app(["serve"], standalone_mode=False)
        finally:
            os._exit(0)
    return pid


def _wait_port(port: int, pid: int | None = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if pid is not None and os.waitpid(pid, os.WNOHANG)[0] == pid:
            raise AssertionError("the server exited during start-up")
        time.sleep(0.05)
    raise AssertionError(f"DICOM port {port} did not open within {timeout} s")


def _acknowledged(log: str, uid_of: dict[str, str]) -> set[str]:
    """SOP Instance UIDs whose Store Response was Success in a `storescu -v` log."""
    acked, current = set(), None
    for line in log.splitlines():
        if m := SENDING.search(line):
            current = m.group(1)
        elif (m := RESPONSE.search(line)) and current is not None:
            if m.group(1) == "Success":
                acked.add(uid_of[current])
            current = None
    return acked


def _instances(tmp_path: Path) -> tuple[list[Path], dict[str, str]]:
    paths: list[Path] = []
    for i in range(4):  # 4 studies x 50 slices of 16 x 16 = 200 instances of ~1.5 kB
        _, series = write_series(tmp_path / f"s{i}", seed=i, patient_id=f"P{i}", shape=(50, 16, 16))
        paths += series
    uid_of = {str(p): pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in paths}
    return paths, uid_of


def _round(storescu: str, files: list[Path], env, port: int, log_path: Path, rng) -> str:
    pid = _fork_server(env, log_path)
    try:
        _wait_port(port, pid)
        sender = subprocess.Popen(
            [storescu, "-v", "-aet", "STORESCU", "-aec", "RADLENS", "127.0.0.1", str(port)]
            + [str(p) for p in rng.sample(files, len(files))],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        time.sleep(rng.uniform(0.05, 1.5))
        os.kill(pid, rng.choice([signal.SIGKILL, signal.SIGTERM]))
        out, _ = sender.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return out


def test_acknowledged_instances_survive_kills(tmp_path: Path) -> None:
    storescu = need_program("storescu", "dcmtk")
    files, uid_of = _instances(tmp_path)
    service_dir, port = tmp_path / "svc", free_port()
    env = _env(service_dir, port)
    rng = random.Random(18)
    acked: set[str] = set()
    for _ in range(ROUNDS):
        out = _round(storescu, files, env, port, tmp_path / "server.log", rng)
        acked |= _acknowledged(out, uid_of)
    assert len(acked) >= 50, "the kills came too early to test anything"

    time.sleep(ORPHAN_MIN_AGE_S)  # the last round's unacknowledged blobs are now old enough
    radlens = str(Path(sys.executable).with_name("radlens"))
    server = subprocess.Popen(
        [radlens, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_port(port)  # the start-up sweep runs before the port opens
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    db = Database(f"sqlite:///{service_dir / 'radlens.sqlite3'}")
    try:
        with db.session() as session:
            rows = session.execute(select(Instance.sop_uid, Instance.sha256)).all()
            n_missing = session.scalar(
                select(func.count(Instance.id)).where(Instance.file_missing.is_(True))
            )
    finally:
        db.dispose()
    stored = [uid for uid, _ in rows]
    assert acked <= set(stored), f"{len(acked - set(stored))} acknowledged instance(s) lost"
    assert len(stored) == len(set(stored))  # exactly once
    assert n_missing == 0
    blobs = {p.name for p in (service_dir / "files").glob("??/??/*") if len(p.name) == 64}
    assert blobs == {sha for _, sha in rows}, "orphan blobs or rows without a file"
    for _, sha in rows:
        data = (service_dir / "files" / sha[:2] / sha[2:4] / sha).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha
