"""The web pages in real headless Chromium against a real running service.

A synthetic chest CT goes over DICOM (dcmtk's storescu) to the node of a service running under
uvicorn on a free loopback port, with the background worker scoring it with a real chest-CT
CT-Net-lite run. Chromium logs in through the login form, the worklist shows the study with its
top finding, the viewer draws the slice and the heatmap overlay; no console errors.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from _support.chromium import DevToolsBrowser, chromium_exe, pixel_std
from _support.live_server import Server
from _support.service import train_chest_ct_run
from _support.service_fixtures import free_port, need_program
from PIL import Image

from radlens.service.auth import add_user
from radlens.service.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
#: where the screenshots go to be looked at (default: the test's temporary folder)
SHOTS_ENV = "RADLENS_TEST_SCREENSHOTS"


def _send_over_dicom(tmp_path: Path, port: int) -> str:
    """A synthetic chest CT with findings, sent by storescu; returns its patient id."""
    from radlens.phantom import synthesize_cohort

    table = synthesize_cohort(
        tmp_path / "send", n_patients=4, seed=21, shape=(24, 128, 128), formats=("dicom",),
        progress=False,
    )  # fmt: skip
    n_findings = [len(json.loads(f)) for f in table["true_findings"]]
    row = table.iloc[int(np.argmax(n_findings))]
    files = sorted(str(p) for p in (tmp_path / "send" / row["dicom_dir"]).glob("*.dcm"))
    storescu = need_program("storescu", "dcmtk")
    echoscu = need_program("echoscu", "dcmtk")
    peer = ["-aet", "STORESCU", "-aec", "RADLENS", "127.0.0.1", str(port)]
    echo = subprocess.run([echoscu, *peer], capture_output=True, text=True, timeout=60)
    assert echo.returncode == 0, echo.stderr
    sent = subprocess.run([storescu, *peer, *files], capture_output=True, text=True, timeout=120)
    assert sent.returncode == 0, sent.stderr
    return str(row["patient_id"])


def _wait_scored(server: Server, token: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        studies = server.get("/studies", token)
        if studies and studies[0]["status"] in ("scored", "failed"):
            return studies[0]
        time.sleep(0.3)
    raise AssertionError(f"study not scored within {timeout} s")


def _canvas_pixels(browser: DevToolsBrowser) -> np.ndarray:
    url = browser.evaluate("document.getElementById('canvas').toDataURL('image/png')")
    import base64

    data = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def test_dicom_study_reaches_worklist_and_viewer_in_chromium(tmp_path: Path) -> None:
    exe = chromium_exe()
    pytest.importorskip(
        "websocket", reason="!!! websocket-client missing: pip install websocket-client !!!"
    )
    run_dir = train_chest_ct_run(tmp_path / "model")
    settings = Settings(
        service_dir=tmp_path / "svc",
        http_port=free_port(),
        dicom_host="127.0.0.1",
        dicom_port=free_port(),
        completion_timeout_s=1.0,
        worker_poll_s=0.2,
        model_run=run_dir,
        check_fitness=False,  # a small synthetic series: this tests the pages, not fitness
    )
    server = Server(settings)
    try:
        token = add_user(server.services.db, "dr-house", "radiologist")
        shots = Path(os.environ.get(SHOTS_ENV) or tmp_path / "shots")
        shots.mkdir(parents=True, exist_ok=True)

        with DevToolsBrowser(exe, tmp_path / "profile", size=(1400, 1300)) as browser:
            browser.goto(server.url + "/")  # not logged in: redirected to the login form
            assert browser.evaluate("location.pathname") == "/login"
            browser.evaluate(
                f"document.querySelector('input[name=token]').value = {json.dumps(token)};"
                "document.querySelector('form.login').submit(); true"
            )
            browser.wait_for("location.pathname === '/' && document.readyState === 'complete'")
            browser.wait_for("document.querySelector('#worklist tbody').innerText.includes('No')")
            # the study arrives by DICOM while the page is open: polling shows it, scored
            browser.evaluate("window.radlensMarker = 42; true")
            patient_id = _send_over_dicom(tmp_path, settings.dicom_port)
            study = _wait_scored(server, token)
            assert study["status"] == "scored", study
            assert study["patient_id"] == patient_id and study["top_abnormality"]
            assert study["model_version"].startswith("run@")
            detail = server.get(f"/studies/{study['id']}", token)
            assert detail["heatmaps"], "the real scorer gave no heatmap"
            top_label = study["top_abnormality"].replace("_", " ")
            row = "(document.querySelector('#worklist tbody tr[data-id]') || {}).innerText || ''"
            row_text = browser.wait_for(
                f"(({row}).includes({json.dumps(top_label)}) && ({row}))", timeout=30
            )
            assert browser.evaluate("window.radlensMarker") == 42  # same page: live update
            assert top_label in row_text and patient_id in row_text
            shot = browser.screenshot(shots / "worklist.png")
            assert pixel_std(shot) > 10.0

            browser.goto(f"{server.url}/view/{study['id']}")
            # the first finding with a heatmap is overlaid at its peak slice on opening
            key = next(f["heatmap"] for f in detail["findings"] if f["heatmap"])
            drawn = "(document.getElementById('canvas').dataset.drawn || '')"
            browser.wait_for(f"{drawn}.endsWith({json.dumps(':' + key)})")
            with_overlay = _canvas_pixels(browser)
            shot = browser.screenshot(shots / "viewer.png")
            assert pixel_std(shot) > 10.0
            assert with_overlay.std() > 5.0  # the slice is drawn, not a blank canvas
            # the overlay toggle: switch it off, the canvas shows the plain slice
            browser.evaluate("document.querySelector('input.overlay-toggle:checked').click(); true")
            browser.wait_for("document.getElementById('canvas').dataset.drawn.endsWith(':')")
            plain = _canvas_pixels(browser)
            changed = np.abs(with_overlay - plain).sum(axis=2) > 30
            assert changed.mean() > 0.005, "the heatmap overlay did not change the slice"
            # the report draft from the writer is in the editor
            text = browser.wait_for("document.getElementById('report').value")
            assert text == server.get(f"/studies/{study['id']}/report", token)["text"]
            # bone window via the keyboard redraws the slice differently
            browser.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": "3"})
            browser.wait_for("document.getElementById('canvas').dataset.drawn.includes(':bone:')")
            assert np.abs(_canvas_pixels(browser) - plain).mean() > 1.0
            browser.screenshot(shots / "viewer_bone.png")
            assert browser.problems == [], browser.problems
    finally:
        server.stop()
