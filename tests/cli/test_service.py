"""`radlens user add/list` and settings from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from radlens.cli import main
from radlens.errors import ConfigError
from radlens.service.auth import authenticate
from radlens.service.settings import Settings
from radlens.service.store import Database


def test_user_add_prints_a_token_once_and_list_hides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RADLENS_SERVICE_DIR", str(tmp_path))
    assert main(["user", "add", "alice", "--role", "radiologist"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("rl_") and len(token) > 30
    db = Database(Settings.from_env().resolved_database_url)
    assert authenticate(db, f"Bearer {token}").role.value == "radiologist"
    assert main(["user", "list"]) == 0
    out = capsys.readouterr().out
    assert "alice" in out and "radiologist" in out and token not in out
    assert main(["user", "add", "bob", "--role", "king"]) == 2
    assert "unknown role 'king'" in capsys.readouterr().err


def test_settings_from_env_and_masked_secrets() -> None:
    env = {
        "RADLENS_DICOM_PORT": "11999",
        "RADLENS_AE_TITLE": "MYNODE",
        "RADLENS_ALLOWED_CALLING_AES": "CT1, PACS",
        "RADLENS_DATABASE_URL": "postgresql+psycopg://u:s3cret@db:5432/radlens",
    }
    settings = Settings.from_env(env)
    assert settings.dicom_port == 11999 and settings.allowed_calling_aes == ("CT1", "PACS")
    assert "s3cret" not in str(settings.safe_summary())
    with pytest.raises(ConfigError, match="RADLENS_DICOM_PORT"):
        Settings.from_env({"RADLENS_DICOM_PORT": "many"})
    with pytest.raises(ConfigError, match="AE title"):
        Settings.from_env({"RADLENS_AE_TITLE": "A_TITLE_MUCH_TOO_LONG"})


@pytest.mark.slow
def test_demo_cohort_seeds_an_empty_store_once(tmp_path: Path) -> None:
    from radlens.demos.service_seed import seed_demo
    from radlens.service.files import FileStore
    from radlens.service.worklist import worklist

    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    files = FileStore(tmp_path / "cas")
    result = seed_demo(db, files, tmp_path, n_patients=1)
    assert result is not None and result.study_ids and result.new_instances > 0
    assert seed_demo(db, files, tmp_path, n_patients=1) is None  # not twice
    listing = worklist(db)
    assert {s["source"] for s in listing} == {"demo"}
    assert all(s["patient_name"].startswith("SYNTHETIC") for s in listing)


@pytest.mark.slow
@pytest.mark.integration
def test_serve_demo_scores_the_demo_cohort_with_the_trained_demo_run(tmp_path: Path) -> None:
    """`radlens serve --demo 2` in a folder where `radlens demo` left runs/demo/run: the
    worklist fills with the synthetic patients, scored by that run."""
    import json
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    from _support.service import train_chest_ct_run
    from _support.service_fixtures import free_port

    from radlens.demos.service_seed import find_demo_run

    assert find_demo_run(tmp_path) is None
    run = train_chest_ct_run(tmp_path / "runs" / "demo")
    assert find_demo_run(tmp_path) == run
    env = os.environ | {
        "RADLENS_SERVICE_DIR": str(tmp_path / "svc"),
        "RADLENS_WORKER_POLL_S": "0.3",
        "RADLENS_COMPLETION_TIMEOUT_S": "0",
        "RADLENS_DICOM_HOST": "127.0.0.1",
    }
    token = subprocess.run(
        [sys.executable, "-m", "radlens", "user", "add", "demo", "--role", "viewer"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    port = free_port()
    cmd = [sys.executable, "-m", "radlens", "serve", "--demo", "2", "--port", str(port),
           "--dicom-port", str(free_port())]  # fmt: skip
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline, studies = time.monotonic() + 180, []
        while time.monotonic() < deadline and proc.poll() is None:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/studies", headers={"Authorization": f"Bearer {token}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    studies = json.loads(response.read())
            except OSError:
                studies = []
            if len(studies) >= 2 and all(s["status"] == "scored" for s in studies):
                break
            time.sleep(0.5)
        assert len(studies) >= 2, (tmp_path / "serve.log").read_text()[-2000:]
        assert {s["status"] for s in studies} == {"scored"}, studies
        assert all(s["model_version"].startswith("run@") for s in studies)
        assert all(s["source"] == "demo" and s["top_abnormality"] for s in studies)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_user_revoke_disable_and_enable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from radlens.service.auth import AuthError

    monkeypatch.setenv("RADLENS_SERVICE_DIR", str(tmp_path))
    main(["user", "add", "alice"])
    main(["user", "add", "alice"])
    first, second = capsys.readouterr().out.split()
    db = Database(Settings.from_env().resolved_database_url)
    assert main(["user", "disable", "alice"]) == 0
    assert capsys.readouterr().out.strip() == "disabled 'alice'"
    with pytest.raises(AuthError, match="user 'alice' is disabled"):
        authenticate(db, f"Bearer {first}")
    main(["user", "list"])
    assert capsys.readouterr().out.rstrip().endswith("tokens=2\tdisabled")
    assert main(["user", "enable", "alice"]) == 0
    assert authenticate(db, f"Bearer {second}").name == "alice"
    capsys.readouterr()
    assert main(["user", "revoke", "alice"]) == 0
    assert capsys.readouterr().out.strip() == "revoked 2 token(s) of 'alice'"
    for token in (first, second):
        with pytest.raises(AuthError, match="token revoked"):
            authenticate(db, f"Bearer {token}")
    assert main(["user", "disable", "alcie"]) == 2
    assert "no user named 'alcie'; did you mean 'alice'?" in capsys.readouterr().err


def test_serve_dicom_host_flag_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import radlens.service

    seen: list[Settings] = []
    monkeypatch.setattr(radlens.service, "serve", lambda settings, **_: seen.append(settings))
    monkeypatch.setenv("RADLENS_SERVICE_DIR", str(tmp_path))
    monkeypatch.delenv("RADLENS_DICOM_HOST", raising=False)
    assert main(["serve"]) == 0
    monkeypatch.setenv("RADLENS_DICOM_HOST", "10.0.0.5")
    assert main(["serve"]) == 0
    assert main(["serve", "--dicom-host", "0.0.0.0"]) == 0
    assert [s.dicom_host for s in seen] == ["127.0.0.1", "10.0.0.5", "0.0.0.0"]
    assert all(s.http_host == "127.0.0.1" for s in seen)


def test_session_settings_from_env_mask_the_secret() -> None:
    settings = Settings.from_env(
        {"RADLENS_SESSION_MAX_AGE_S": "600", "RADLENS_SESSION_SECRET": "k3y-material"}
    )
    assert settings.session_max_age_s == 600 and Settings().session_max_age_s == 8 * 3600
    assert "k3y-material" not in str(settings.safe_summary())
    with pytest.raises(ConfigError, match="RADLENS_SESSION_MAX_AGE_S"):
        Settings.from_env({"RADLENS_SESSION_MAX_AGE_S": "0"})


def test_user_add_prints_only_the_token_on_a_fresh_store(tmp_path: Path) -> None:
    """Issue 18: opening (migrating) a fresh store printed ~10 lines of Alembic log."""
    import os
    import subprocess
    import sys

    env = os.environ | {"RADLENS_SERVICE_DIR": str(tmp_path / "svc")}
    done = subprocess.run(
        [sys.executable, "-m", "radlens", "user", "add", "alice"],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert done.stderr == "" and len(done.stdout.splitlines()) == 1
    assert done.stdout.startswith("rl_")


def test_the_served_demo_finds_the_demos_lesion_runs(tmp_path) -> None:
    from radlens.demos import find_demo_lesion_runs

    assert find_demo_lesion_runs(tmp_path) == {}
    demo = tmp_path / "runs" / "demo"
    (demo / "detector").mkdir(parents=True)
    (demo / "detector" / "detector.pt").write_bytes(b"")
    assert find_demo_lesion_runs(tmp_path) == {}  # half a detector run is none
    (demo / "detector" / "detector.json").write_text("{}")
    (demo / "segmentation").mkdir()
    (demo / "segmentation" / "checkpoint.pt").write_bytes(b"")
    assert find_demo_lesion_runs(tmp_path) == {"detector_runs": (demo / "detector",)}
    (demo / "segmentation" / "config.yaml").write_text("task: segmentation\n")
    assert find_demo_lesion_runs(tmp_path) == {
        "seg_run": demo / "segmentation",
        "detector_runs": (demo / "detector",),
    }
