"""A small version of benchmarks/service_load.py: 20 studies by upload and C-STORE while the
server crashes (SIGKILL) and restarts once; every accepted study is scored exactly once."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "service_load.py"


@pytest.mark.slow
@pytest.mark.integration
def test_load_with_crash_restart_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("service_load", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.run_load(20, workdir=tmp_path, threads=8, deadline_s=240)
    assert figures["server_starts"] == 2
    assert figures["accepted"] == 20 and figures["scored"] == 20
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    assert figures["wrong_instance_count"] == 0
    assert figures["by_upload"] == 10 and figures["by_cstore"] == 10
