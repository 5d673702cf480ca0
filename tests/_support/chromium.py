"""Headless Chromium for the real-browser tests (the evaluation report and the service pages).

`chromium_exe()` finds Debian's `chromium` or skips loudly; `render()` screenshots one page with
`--screenshot` and returns its console messages; `DevToolsBrowser` drives a page over the
DevTools protocol (`--remote-debugging-port`, websocket-client) for pages that need a login,
JavaScript to finish, clicks and canvas pixels.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image


def chromium_exe() -> str:
    """Path of the Chromium binary, or a loud skip naming the Debian package."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip(
            "!!! CHROMIUM NOT INSTALLED: the real-browser test cannot run"
            " (install the Debian package: apt-get install -y chromium) !!!"
        )
    return exe


def chromium_flags(profile: Path) -> list[str]:
    """Headless, sandbox-free (root in CI), no network chatter, a throw-away profile."""
    return [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}",
    ]  # fmt: skip


def render(exe: str, page: Path | str, shot: Path, profile: Path, size=(1280, 2000)) -> list[str]:
    """Screenshot a page (file or URL) in headless Chromium; return its console messages."""
    url = page if isinstance(page, str) else page.resolve().as_uri()
    cmd = [
        exe, *chromium_flags(profile), "--enable-logging=stderr", "--v=0",
        f"--window-size={size[0]},{size[1]}", f"--screenshot={shot}", url,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), (
        f"chromium wrote no screenshot (rc {proc.returncode}): {proc.stderr[-800:]}"
    )
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def pixel_std(image: Path | bytes) -> float:
    """Grey-level standard deviation: ~0 for a blank page."""
    import io

    src = io.BytesIO(image) if isinstance(image, bytes) else image
    return float(np.asarray(Image.open(src).convert("L"), dtype=np.float64).std())


class DevToolsBrowser:
    """One headless Chromium with one page, driven over the DevTools protocol.

    Console errors, uncaught exceptions and failed loads are collected in `problems`.
    """

    def __init__(self, exe: str, profile: Path, *, size=(1400, 1100), timeout: float = 60):
        import websocket  # websocket-client (dev dependency)

        profile.mkdir(parents=True, exist_ok=True)
        self.log = (profile / "chromium.log").open("w")
        self.proc = subprocess.Popen(
            [exe, *chromium_flags(profile), "--remote-debugging-port=0",
             f"--window-size={size[0]},{size[1]}", "about:blank"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not port_file.is_file() or not port_file.read_text().strip():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"chromium did not open its DevTools port; see {self.log.name}")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.loads(r.read())
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=timeout, suppress_origin=True
        )
        self.timeout = timeout
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call a DevTools method and return its result (events arriving meanwhile are kept)."""
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params or {}}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method} failed: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    @property
    def problems(self) -> list[str]:
        """Console errors/warnings, uncaught exceptions and failed network loads seen so far."""
        out = []
        for ev in self.events:
            method, params = ev.get("method"), ev.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                out.append(f"exception: {details.get('exception', {}).get('description', details)}")
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning"):
                out.append(f"console.{params['type']}: {params['args']}")
            elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
                out.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        return out

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float | None = None) -> Any:
        """Poll a JavaScript expression until it is truthy; return its value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        raise TimeoutError(f"{expression!r} stayed false; problems: {self.problems}")

    def goto(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])
        path.write_bytes(data)
        return data

    def close(self) -> None:
        if getattr(self, "ws", None) is not None:
            with contextlib.suppress(Exception):  # the browser may already be gone
                self.send("Browser.close")
            self.ws.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()

    def __enter__(self) -> DevToolsBrowser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
