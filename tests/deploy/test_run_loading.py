"""`load_named_run`: every failure names the option, the folder and the command that makes a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from radlens.deploy.run_loading import load_named_run
from radlens.errors import ConfigError, ModelError


def _raise(exc: Exception):
    def loader(run_dir: Path):
        raise exc

    return loader


def test_errors_name_option_folder_and_command(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"nowhere: no such directory \(a run of `make it`\)"):
        load_named_run(lambda p: p, tmp_path / "nowhere", "--x", "make it")
    with pytest.raises(ModelError, match=r"^--x .*: no config\.json$"):
        load_named_run(_raise(ConfigError("no config.json")), tmp_path, "--x", "make it")
    with pytest.raises(ModelError, match=r"does not fit .*\(size mismatch\); run `make it` again"):
        load_named_run(_raise(RuntimeError("size mismatch\nmore")), tmp_path, "--x", "make it")
    assert load_named_run(lambda p: p.name, tmp_path, "--x", "make it") == tmp_path.name
