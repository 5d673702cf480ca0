"""Web pages: cookie login, redirects, HTML escaping of stored text, CSRF guard."""

from __future__ import annotations

from pathlib import Path

import pytest
from _support.service import TinyNetScorer, write_series
from fastapi.testclient import TestClient

from radlens.service.app import Services, create_app
from radlens.service.auth import add_user
from radlens.service.settings import Settings
from radlens.service.worker import Worker

EVIL = "<script>alert('x')</script>"


@pytest.fixture
def svc(tmp_path: Path):
    services = Services.build(Settings(service_dir=tmp_path / "svc", enable_dicom=False))
    yield services
    services.db.dispose()


def test_pages_need_login_and_escape_stored_text(svc, tmp_path) -> None:
    client = TestClient(create_app(services=svc))
    token = add_user(svc.db, "rad", "radiologist")
    page = client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert "Log in" in client.get("/login").text
    bad = client.post("/login", data={"token": "rl_wrong"}, follow_redirects=False)
    assert "error=" in bad.headers["location"]
    _, paths = write_series(tmp_path / "a", patient_name=EVIL, study_description=EVIL)
    files = [("files", (p.name, p.read_bytes(), "application/dicom")) for p in paths]
    study_id = client.post(
        "/studies", files=files, headers={"Authorization": f"Bearer {token}"}
    ).json()["study_ids"][0]
    Worker(svc.db, svc.files, TinyNetScorer(), completion_timeout_s=0).run_once()
    ok = client.post("/login", data={"token": token}, follow_redirects=False)
    assert ok.status_code == 303 and "httponly" in ok.headers["set-cookie"].lower()
    worklist = client.get("/")
    assert worklist.status_code == 200 and "/static/app.js" in worklist.text
    view = client.get(f"/view/{study_id}")
    assert view.status_code == 200
    assert EVIL not in view.text and "&lt;script&gt;" in view.text
    assert client.get(f"/studies/{study_id}/slices/2.png").status_code == 200  # cookie auth
    csrf = client.put(f"/studies/{study_id}/report", json={"text": "x"})
    assert csrf.status_code == 403 and "X-Requested-With" in csrf.json()["detail"]
    edit = client.put(
        f"/studies/{study_id}/report", json={"text": "ok"}, headers={"X-Requested-With": "radlens"}
    )
    assert edit.status_code == 200 and edit.json()["text"] == "ok"
    assert "app.js" in client.get("/static/app.js").url.path


def test_viewer_role_reads_but_cannot_edit_or_sign(svc, tmp_path) -> None:
    client = TestClient(create_app(services=svc))
    rad = {"Authorization": f"Bearer {add_user(svc.db, 'rad', 'radiologist')}"}
    viewer_token = add_user(svc.db, "student", "viewer")
    _, paths = write_series(tmp_path / "a")
    files = [("files", (p.name, p.read_bytes(), "application/dicom")) for p in paths]
    study_id = client.post("/studies", files=files, headers=rad).json()["study_ids"][0]
    Worker(svc.db, svc.files, TinyNetScorer(), completion_timeout_s=0).run_once()
    # report text with markup is stored verbatim and never rendered as HTML by the page
    client.put(f"/studies/{study_id}/report", json={"text": EVIL}, headers=rad)
    client.post("/login", data={"token": viewer_token})
    page = client.get(f"/view/{study_id}")
    assert page.status_code == 200 and 'id="sign"' not in page.text and "readonly" in page.text
    assert EVIL not in page.text
    assert "overlay-toggle" in page.text  # the finding with a heatmap gets its toggle
    guard = {"X-Requested-With": "radlens"}
    sign = client.post(f"/studies/{study_id}/report/sign", headers=guard)
    assert sign.status_code == 403 and "needs 'radiologist'" in sign.json()["detail"]
    edit = client.put(f"/studies/{study_id}/report", json={"text": "mine"}, headers=guard)
    assert edit.status_code == 403
    report = client.get(f"/studies/{study_id}/report").json()
    assert report["text"] == EVIL and not report["signed"]
    geometry = client.get(f"/studies/{study_id}/geometry").json()
    assert set(geometry["heatmap_peaks"]) == {"pneumothorax"}
    assert 0 <= geometry["heatmap_peaks"]["pneumothorax"] < geometry["shape"][0]
    docs = client.get("/docs")  # cookie login opens the API docs too
    assert docs.status_code == 200
    client.post("/logout")
    assert (
        client.get("/docs", headers={"Accept": "text/html"}, follow_redirects=False).status_code
        == 303
    )


def test_overlay_is_transparent_where_heat_is_low() -> None:
    import numpy as np

    from radlens.service.imaging import overlay_rgba

    plane = np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10)
    rgba = overlay_rgba(plane)
    assert rgba.dtype == np.uint8 and rgba.shape == (10, 10, 4)
    assert rgba[0, 0, 3] == 0 and rgba[-1, -1, 3] == 255
    assert np.all(np.diff(rgba[..., 3].ravel().astype(int)) >= 0)  # alpha grows with heat


def test_session_cookie_is_signed_expires_and_ends_on_revoke_or_disable(svc) -> None:
    from radlens.service.auth import revoke_tokens, set_user_active

    app = create_app(services=svc)
    client = TestClient(app)
    token = add_user(svc.db, "rad", "radiologist")
    login = client.post("/login", data={"token": token}, follow_redirects=False)
    cookie = login.headers["set-cookie"]
    assert token not in cookie and "Max-Age=28800" in cookie  # 8 h by default
    assert client.get("/studies").status_code == 200
    key_file = svc.settings.service_dir / "session.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    restarted = TestClient(create_app(services=svc), cookies=dict(client.cookies))
    assert restarted.get("/studies").status_code == 200  # same key: sessions survive restarts
    now = app.state.sessions.clock()
    app.state.sessions.clock = lambda: now + 8 * 3600 + 1
    expired = client.get("/studies")
    assert expired.status_code == 401
    assert expired.json()["detail"] == "session expired; log in again"
    app.state.sessions.clock = lambda: now
    value = client.cookies.get("radlens_session")
    tampered = value[:-1] + ("0" if value[-1] != "0" else "1")
    client.cookies.set("radlens_session", tampered, domain="testserver.local")  # replace, not add
    assert client.get("/studies").json()["detail"] == "invalid session cookie; log in again"
    client.cookies.set("radlens_session", value, domain="testserver.local")
    set_user_active(svc.db, "rad", False)
    assert client.get("/studies").json()["detail"] == "user 'rad' is disabled"
    set_user_active(svc.db, "rad", True)
    assert client.get("/studies").status_code == 200
    revoke_tokens(svc.db, "rad")
    assert client.get("/studies").json()["detail"] == "token revoked"


class FixedScorer:
    """Scores every volume the same: one present, one uncertain and one absent finding."""

    model_version = "fixed-0"

    def score(self, volume) -> list:
        from radlens.service.scoring import Prediction

        return [
            Prediction("pneumothorax", "left_pleura", 0.9),
            Prediction("mass", "right_upper_lobe", 0.3),
            Prediction("pleural_effusion", None, 0.01),
        ]


def test_viewer_shows_urgency_badges_only_on_present_or_uncertain_findings(svc, tmp_path) -> None:
    """Issue 18: absent findings carried an urgency badge ("critical" on a ruled-out finding)."""
    import re

    client = TestClient(create_app(services=svc))
    token = add_user(svc.db, "rad", "radiologist")
    _, paths = write_series(tmp_path / "a")
    files = [("files", (p.name, p.read_bytes(), "application/dicom")) for p in paths]
    headers = {"Authorization": f"Bearer {token}"}
    study_id = client.post("/studies", files=files, headers=headers).json()["study_ids"][0]
    Worker(svc.db, svc.files, FixedScorer(), completion_timeout_s=0).run_once()
    status = {f["abnormality"]: f["status"] for f in client.get(
        f"/studies/{study_id}", headers=headers).json()["findings"]}  # fmt: skip
    assert status == {"pneumothorax": "present", "mass": "uncertain", "pleural_effusion": "absent"}
    client.post("/login", data={"token": token})
    page = client.get(f"/view/{study_id}").text
    table = page.split('id="findings"')[1].split("</table>")[0]
    rows = {
        re.search(r"<td>([a-z ]+)</td><td>", row).group(1): row
        for row in re.findall(r"<tr class.*?</tr>", table, re.S)
    }
    assert '<span class="badge critical">critical</span>' in rows["pneumothorax"]
    assert '<span class="badge urgent">urgent</span>' in rows["mass"]
    assert "badge" not in rows["pleural effusion"] and "urgency-" not in rows["pleural effusion"]
