"""The viewer's lesion candidates and sentence maps in real headless Chromium against a running
service (issues 15 and 16): a NIfTI study uploaded over HTTP is scored by the worker with a
segmentation run (`--seg-run`, planted output) beside the classifier; clicking a candidate's row
goes to its slice and draws its contour; "show where: <sentence>" (`--text-run`) goes to the
map's peak slice and overlays it; no console errors."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from _support.chromium import DevToolsBrowser, chromium_exe
from _support.live_server import Server
from _support.seg_cohort import SPACING, sphere
from _support.seg_service import PlantedSeg, train_tiny_seg_run
from _support.service_fixtures import free_port
from _support.text_run import train_3d_text_run
from PIL import Image

from radlens.data.volumes import Volume, write_nifti
from radlens.service.auth import add_user
from radlens.service.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SHAPE = (16, 32, 32)
SELECTED = (255, 214, 0)  # radlens.service.imaging.SELECTED_RGBA


def _study_file(tmp_path: Path) -> Path:
    hu = np.full(SHAPE, -800.0, dtype=np.float32)
    hu[:, 4:28, 2:30] = 30.0
    hu[:, 6:26, 4:28] = -800.0
    hu[sphere(SHAPE, (4, 12, 8), (1.5, 2.5, 2.5))] = 40.0  # a nodule off the middle slice
    hu[sphere(SHAPE, (11, 18, 22), (3, 5, 5))] = 60.0
    return write_nifti(Volume(hu, SPACING, (0.0, 0.0, 0.0)), tmp_path / "study.nii.gz")


def _canvas(browser: DevToolsBrowser) -> np.ndarray:
    url = browser.evaluate("document.getElementById('canvas').toDataURL('image/png')")
    data = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def _wait_scored(server: Server, token: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        studies = server.get("/studies", token)
        if studies and studies[0]["status"] in ("scored", "failed"):
            return studies[0]
        time.sleep(0.3)
    raise AssertionError(f"study not scored within {timeout} s")


def test_lesion_rows_jump_to_their_slice_and_sentences_map(tmp_path: Path) -> None:
    exe = chromium_exe()
    pytest.importorskip("websocket", reason="!!! websocket-client missing !!!")
    settings = Settings(
        service_dir=tmp_path / "svc", http_port=free_port(), enable_dicom=False,
        completion_timeout_s=0.0, worker_poll_s=0.2, check_fitness=False,
        scorer="_support.service:tiny_scorer",  # the classifier beside the segmentation run
        seg_run=train_tiny_seg_run(tmp_path / "seg"),
        text_run=train_3d_text_run(tmp_path / "text"),
    )  # fmt: skip
    server = Server(settings)
    try:
        server.services.segmenter.model = PlantedSeg()  # before any study: known candidates
        token = add_user(server.services.db, "dr-seg", "radiologist")
        path = _study_file(tmp_path)
        sent = httpx.post(
            server.url + "/studies", headers={"Authorization": f"Bearer {token}"},
            files=[("files", ("study.nii.gz", path.read_bytes(), "application/gzip"))],
            data={"patient_id": "B-1"}, timeout=60,
        )  # fmt: skip
        assert sent.status_code == 201, sent.text
        study = _wait_scored(server, token)
        assert study["status"] == "scored", study
        lesions = server.get(f"/studies/{study['id']}/lesions", token)["lesions"]
        mass = next(les for les in lesions if les["finding"] == "mass")
        assert mass["axial_slice"] == 11
        with DevToolsBrowser(exe, tmp_path / "profile", size=(1400, 1300)) as browser:
            browser.goto(server.url + "/login")
            browser.evaluate(
                f"document.querySelector('input[name=token]').value = {json.dumps(token)};"
                "document.querySelector('form.login').submit(); true"
            )
            browser.wait_for("location.pathname === '/' && document.readyState === 'complete'")
            browser.goto(f"{server.url}/view/{study['id']}")
            drawn = "(document.getElementById('canvas').dataset.drawn || '')"
            first = browser.wait_for(drawn)  # opens on the classifier's heatmap peak
            assert not first.startswith("11:")
            assert not (np.abs(_canvas(browser) - SELECTED).sum(axis=2) < 40).any()
            row = f"#lesions tr.lesion[data-label='{mass['label']}']"
            browser.evaluate(f"document.querySelector({json.dumps(row)}).click(); true")
            browser.wait_for(f"{drawn}.startsWith('11:')")
            assert browser.evaluate("document.getElementById('slice').value") == "11"
            selected = np.abs(_canvas(browser) - SELECTED).sum(axis=2) < 40
            assert selected.sum() > 50, "the selected candidate's contour is not drawn"
            ys, xs = np.nonzero(selected)  # around the mass: rows 13..23, columns 17..27 of 32
            assert 12 * 16 <= ys.mean() <= 24 * 16 and 16 * 16 <= xs.mean() <= 28 * 16
            # show where: <sentence> goes to the map's peak slice and overlays it
            sentence = "right upper lobe mass"
            peak = server.get(
                f"/studies/{study['id']}/text-map?text={sentence.replace(' ', '%20')}", token
            )["peak_slice"]
            browser.evaluate(
                f"document.getElementById('text-map-sentence').value = {json.dumps(sentence)};"
                "document.getElementById('text-map-form').requestSubmit(); true"
            )
            browser.wait_for(f"{drawn} === {json.dumps(f'{peak}:lung:{sentence}')}")
            info = browser.evaluate("document.getElementById('text-map-info').textContent")
            assert info == f"peak on slice {peak + 1}"
            browser.screenshot(tmp_path / "viewer_lesions.png")
            assert browser.problems == [], browser.problems
    finally:
        server.stop()
