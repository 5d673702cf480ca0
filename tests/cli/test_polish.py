"""CLI polish (issue 19): shell completion, an example block in every command's help, errors
that name flags and print plain numbers, `volume series` skipping non-DICOM files, bench tables
that say the epochs and subsets beside every "Δ vs paper"."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer.main
from pydicom.data import get_testdata_file

from radlens.bench.tables import run_note, summarize, to_html, to_markdown
from radlens.cli import app, main
from radlens.cli.examples import EXAMPLES
from radlens.data.volumes import Volume, load_volume
from radlens.errors import DataError


def _commands(cmd=None, path: tuple[str, ...] = ()):
    cmd = cmd or typer.main.get_command(app)
    if hasattr(cmd, "commands"):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield " ".join(path), cmd


def test_every_command_has_an_example_block_in_its_help(capsys: pytest.CaptureFixture) -> None:
    commands = dict(_commands())
    assert len(commands) >= 20 and set(EXAMPLES) <= set(commands), set(EXAMPLES) - set(commands)
    for path, cmd in commands.items():  # a command registered with its own example epilog is fine
        assert cmd.epilog and cmd.epilog.startswith("Examples:"), f"no examples for {path!r}"
        assert f"$ radlens {path}" in cmd.epilog, path
        for line in EXAMPLES.get(path, ()):  # each example runs the command it documents
            assert line.startswith(f"radlens {path}"), (path, line)
    assert main(["label", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Examples:" in out and "--workers 2" in out


def test_shell_completion_is_offered(capsys: pytest.CaptureFixture) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--install-completion" in out and "--show-completion" in out
    # what the installed script does, in a fresh process: the shell sets _RADLENS_COMPLETE
    # (`--show-completion` itself depends on detecting the calling shell from the process tree)
    script = "from radlens.cli import entry; entry()"

    def run(**env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
            env={**os.environ, **env},
        )  # fmt: skip

    source = run(_RADLENS_COMPLETE="source_bash")
    assert source.returncode == 0, source.stderr
    assert "complete -o default -F _radlens_completion radlens" in source.stdout
    words = run(_RADLENS_COMPLETE="complete_bash", COMP_WORDS="radlens tra", COMP_CWORD="1")
    assert words.stdout.split() == ["train"]


def _dicom(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "series"
    folder.mkdir()
    for name in names:
        shutil.copy(get_testdata_file(name), folder / name)
    return folder


def test_errors_name_the_flags_not_python_arguments(tmp_path: Path) -> None:
    both = _dicom(tmp_path, "CT_small.dcm", "MR_small.dcm")
    with pytest.raises(DataError) as info:
        load_volume(both)
    assert "--series-uid" in str(info.value) and "pass series_uid=" not in str(info.value)
    mr = both / "MR_small.dcm"
    with pytest.raises(DataError) as info:
        load_volume(mr)
    assert "--allow-non-ct" in str(info.value) and "pass allow_non_ct" not in str(info.value)


def test_errors_print_plain_numbers() -> None:
    with pytest.raises(DataError) as info:
        Volume(array=np.zeros((2, 2, 2)), spacing=np.array([np.nan, 1.0, 1.0]), origin=(0, 0, 0))
    assert "np.float64" not in str(info.value) and "[nan, 1.0, 1.0]" in str(info.value)


def test_volume_series_skips_non_dicom_files_with_a_count(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = _dicom(tmp_path, "CT_small.dcm")
    (folder / "README").write_text("scanned on the old scanner\n")
    (folder / "notes.rst").write_text("x\n")
    assert main(["volume", "series", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "\tCT\t" in out and "files=1" in out
    assert "skipped 2 non-DICOM file(s): README, notes.rst" in err


def _bench_row(**extra) -> dict:
    return {
        "dataset": "pneumoniamnist", "size": 28, "protocol": "28 native", "model": "resnet18",
        "setting_id": "x", "seed": "0", "official_data": True, "data_file": "p.npz",
        "test_auc": 0.7, "test_acc": 0.6, "test_macro_recall": 0.6, "test_macro_f1": 0.6,
        "test_ece": 0.1, "test_recall_per_class": {"a": 0.5}, "test_f1_per_class": {"a": 0.5},
        "wall_time_s": 3.0, "train_images_per_s": 100.0, "paper_method": "ResNet-18 (28)",
        "epochs": 1, **extra,
    }  # fmt: skip


def test_bench_tables_state_epochs_and_subsets_beside_the_delta() -> None:
    df = summarize([_bench_row(max_train_images=200, max_eval_images=None)])
    note = "(1 ep, train ≤ 200, full test)"
    md, html = to_markdown(df), to_html(df)
    assert f"{df.iloc[0]['delta_auc_vs_paper']:.3f}" in md
    assert all(note in line for line in md.splitlines() if line.startswith("| pneumoniamnist"))
    assert note in html
    assert run_note({"epochs": 100}) == "100 ep, full train, full test"
