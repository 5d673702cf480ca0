"""`radlens demo` chest-CT options: the segmentation budget the demo is given."""

from __future__ import annotations

from pathlib import Path

import pytest

import radlens.demos as demos
from radlens.cli import main
from radlens.demos import FULL_SEGMENTATION, SegStepOptions


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list:
    calls: list = []

    class _Result:
        report = Path("report.html")

    def fake(out, options, console=None):
        calls.append(options)
        return _Result()

    monkeypatch.setattr(demos, "run_ct_demo", fake)
    return calls


def test_full_runs_the_benchmark_segmentation_setting(captured: list, tmp_path: Path) -> None:
    assert main(["demo", "--out", str(tmp_path), "--full"]) == 0
    seg = captured[0].segmentation
    assert seg is FULL_SEGMENTATION
    assert (seg.model, seg.spacing, seg.patch, seg.epochs) == ("unet", (5.0, 3.5, 3.5),
                                                              (16, 48, 48), 120)  # fmt: skip


def test_default_and_smaller_budgets(captured: list, tmp_path: Path) -> None:
    assert main(["demo", "--out", str(tmp_path)]) == 0
    assert captured[0].segmentation == SegStepOptions()  # 6 epochs on 120 studies, unet_lite
    assert main(["demo", "--out", str(tmp_path), "--seg-epochs", "2", "--seg-studies", "10"]) == 0
    assert captured[1].segmentation == SegStepOptions(epochs=2, studies=10)
    assert main(["demo", "--out", str(tmp_path), "--seg-epochs", "0"]) == 0
    assert captured[2].segmentation is None


def test_patience_option(
    captured: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--out", str(tmp_path)]) == 0
    assert captured[0].patience == 6  # early stopping by default
    assert main(["demo", "--out", str(tmp_path), "--patience", "0"]) == 0
    assert captured[1].patience is None  # every epoch
    assert main(["demo", "--out", str(tmp_path), "--patience", "-1"]) == 2
    assert "--patience must be >= 0" in capsys.readouterr().err
    assert len(captured) == 2


def test_detect_all_and_full_run_every_detector(captured: list, tmp_path: Path) -> None:
    flags = ("detect_nodules", "detect_masses", "detect_nodes", "detect_plaques")
    assert main(["demo", "--out", str(tmp_path)]) == 0
    assert not any(getattr(captured[0], f) for f in flags)  # the 10-minute default has none
    assert main(["demo", "--out", str(tmp_path), "--detect-masses"]) == 0
    assert [getattr(captured[1], f) for f in flags] == [False, True, False, False]
    assert main(["demo", "--out", str(tmp_path), "--detect-all"]) == 0
    assert all(getattr(captured[2], f) for f in flags)
    assert captured[2].segmentation == SegStepOptions()  # --detect-all leaves segmentation alone
    assert main(["demo", "--out", str(tmp_path), "--full"]) == 0
    assert all(getattr(captured[3], f) for f in flags)
    assert captured[3].segmentation is FULL_SEGMENTATION
