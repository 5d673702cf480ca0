"""The CLI entry point: help works, user errors are one line and exit 2."""

from __future__ import annotations

import pytest

from radlens.cli import app, main
from radlens.errors import DataError


def test_help_lists_app(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "radlens" in capsys.readouterr().out.lower()


def test_user_error_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    @app.command("raise-for-test", hidden=True)
    def _raise() -> None:
        raise DataError("file x.npz: key 'train_images' missing [expected uint8 array]")

    try:
        assert main(["raise-for-test"]) == 2
    finally:  # the app is shared by every test: leave it as it was
        app.registered_commands[:] = [
            c for c in app.registered_commands if c.name != "raise-for-test"
        ]
    err = capsys.readouterr().err
    assert "x.npz" in err and "[expected uint8 array]" in err
    assert "Traceback" not in err


def test_unknown_command_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    import radlens

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"radlens {radlens.__version__}"
