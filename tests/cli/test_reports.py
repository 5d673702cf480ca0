"""`radlens label` / `radlens label-eval`: tables written, explain output, bad inputs, scoring."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radlens.cli import main
from radlens.errors import ReportError
from radlens.reports.label_eval import score_sets
from radlens.reports.tables import read_reports


def _csv(tmp_path: Path, rows: list[tuple[str, str]], name: str = "reports.csv") -> Path:
    p = tmp_path / name
    pd.DataFrame(rows, columns=["ID", "TEXT"]).to_csv(p, index=False)
    return p


REPORTS = [
    ("r1", "FINDINGS: No pleural effusion. Nodule in the right upper lobe.\nIMPRESSION: Nodule."),
    ("r2", "Bilateral pleural effusions, possible pneumonia. Heart size is normal."),
    ("r3", ""),
]


def test_label_writes_long_and_wide_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _csv(tmp_path, REPORTS)
    out = tmp_path / "out" / "labels.parquet"
    rc = main(["label", str(src), "--id-column", "ID", "--text-column", "TEXT", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert "3 reports" in capsys.readouterr().out
    long = pd.read_parquet(out)
    assert list(long.columns[:4]) == ["report_id", "abnormality", "location", "status"]
    nod = long[(long.report_id == "r1") & (long.abnormality == "nodule")]
    assert set(nod.location.dropna()) == {"right_upper_lobe"}
    row = nod[nod.location == "right_upper_lobe"].iloc[0]
    text = REPORTS[0][1]
    assert text[row.span_start : row.span_end] == "Nodule"
    wide = pd.read_parquet(tmp_path / "out" / "labels.wide.parquet").set_index("report_id")
    assert wide.loc["r1", "nodule"] == 1 and wide.loc["r1", "nodule@right_upper_lobe"] == 1
    assert wide.loc["r1", "pleural_effusion"] == 0
    assert wide.loc["r2", "pleural_effusion@left_pleura"] == 1
    assert np.isnan(wide.loc["r2", "pneumonia"])  # uncertain: unknown, not 0
    assert (wide.loc["r3"] == 0).all()


@pytest.mark.parametrize(("policy", "value"), [("positive", 1), ("negative", 0), ("keep", None)])
def test_uncertain_policy(tmp_path: Path, policy: str, value: int | None) -> None:
    src = _csv(tmp_path, REPORTS)
    out = tmp_path / "l.csv"
    rc = main(["label", str(src), "--id-column", "ID", "--text-column", "TEXT", "--out", str(out),
               "--uncertain", policy])  # fmt: skip
    assert rc == 0
    wide = pd.read_csv(tmp_path / "l.wide.csv", dtype={"report_id": str}).set_index("report_id")
    got = wide.loc["r2", "pneumonia"]
    assert np.isnan(got) if value is None else got == value  # keep: NaN (an empty CSV cell)


def test_explain_prints_each_decision(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["label", "--explain", "No pneumothorax. Possible left effusion."]) == 0
    out = capsys.readouterr().out
    assert "absent    pneumothorax" in out and "'No'" in out
    assert "uncertain pleural_effusion @ left_pleura" in out and "'Possible'" in out


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--id-column", "id"], r"no column 'id' \(--id-column\).*did you mean 'ID'"),
        (["--id-column", "ID", "--text-column", "TEXT", "--uncertain", "maybe"], "--uncertain"),
        (["--id-column", "ID", "--text-column", "TEXT", "--vocab", "chest_cx"], "did you mean"),
    ],
)
def test_label_bad_options_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], match: str
) -> None:
    src = _csv(tmp_path, REPORTS)
    assert main(["label", str(src), "--out", str(tmp_path / "o.parquet"), *args]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert re.search(match, err), err
    assert "Traceback" not in err


def test_duplicate_ids_non_utf8_and_missing_file(tmp_path: Path) -> None:
    dup = _csv(tmp_path, [("a", "x"), ("b", "y"), ("a", "z")], "dup.csv")
    with pytest.raises(
        ReportError, match=r"1 duplicate value\(s\) in id column 'ID' \(first at line 2\)"
    ):
        read_reports(dup, "ID", "TEXT")
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("ID,TEXT\nr1,No effusi\u00f3n\n".encode("latin-1"))
    with pytest.raises(ReportError, match=r"byte 20 is not UTF-8 .*xf3"):
        read_reports(bad, "ID", "TEXT")
    with pytest.raises(ReportError, match="cannot read"):
        read_reports(tmp_path / "missing.csv", "ID", "TEXT")


def test_label_requires_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["label"]) == 2
    assert "--explain" in capsys.readouterr().err


def test_label_eval_wide_gold_with_mapping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _csv(tmp_path, REPORTS)
    out = tmp_path / "labels.parquet"
    assert (
        main(["label", str(src), "--id-column", "ID", "--text-column", "TEXT", "--out", str(out)])
        == 0
    )
    gold = tmp_path / "gold.csv"
    pd.DataFrame(
        {"AccessionNo": ["r1", "r2", "r3"], "Lung nodule": [1, 0, 0], "Pleural effusion": [0, 1, 1]}
    ).to_csv(gold, index=False)
    mapping = tmp_path / "map.yaml"
    mapping.write_text(
        "labels:\n  Lung nodule: [nodule]\n  Pleural effusion: [pleural_effusion]\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    rc = main(["label-eval", str(tmp_path / "labels.wide.parquet"), str(gold),
               "--gold-id-column", "AccessionNo", "--mapping", str(mapping)])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert "micro-F1 0.800" in out  # TP 2, FP 0, FN 1 (r3 effusion)
    assert "r3\tPleural effusion\t1\t0" in out


def test_label_eval_findings_gold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold = tmp_path / "gold.csv"
    pd.DataFrame(
        {"id": ["g1", "g2"],
         "text": ["No pneumothorax. Right pleural effusion.", "Mild cardiomegaly."],
         "findings": ["pneumothorax=absent; pleural_effusion@right_pleura", "cardiomegaly"]}
    ).to_csv(gold, index=False)  # fmt: skip
    out = tmp_path / "labels.parquet"
    assert main(["label", str(gold), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["label-eval", str(out), str(gold)]) == 0
    text = capsys.readouterr().out
    assert "== report: micro-F1 1.000" in text and "== located: micro-F1 1.000" in text


def test_label_eval_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["label-eval", str(tmp_path / "p.parquet"), str(tmp_path / "g.csv")]) == 2
    assert "not found" in capsys.readouterr().err


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.sampled_from("abc"), st.sets(st.integers(0, 20)), max_size=3),
    st.dictionaries(st.sampled_from("abc"), st.sets(st.integers(0, 20)), max_size=3),
)
def test_scores_are_bounded_and_perfect_when_equal(gold: dict, pred: dict) -> None:
    res = score_sets(gold, pred)
    assert 0.0 <= res.micro_f1 <= 1.0 and 0.0 <= res.macro_f1 <= 1.0
    for s in res.labels:
        assert s.tp + s.fn == s.support
    if any(gold.values()):
        assert score_sets(gold, gold).micro_f1 == 1.0


def test_label_workers_gives_the_one_process_tables(tmp_path: Path) -> None:
    src = _csv(tmp_path, REPORTS * 1 + [(f"x{i}", f"Atelectasis, less likely pneumonia {i}.")
                                        for i in range(9)])  # fmt: skip
    base = ["label", str(src), "--id-column", "ID", "--text-column", "TEXT", "--out"]
    assert main([*base, str(tmp_path / "one.parquet")]) == 0
    assert main([*base, str(tmp_path / "two.parquet"), "--workers", "2"]) == 0
    for name in ("{}.parquet", "{}.wide.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / name.format("one")),
            pd.read_parquet(tmp_path / name.format("two")),
        )
    assert main([*base, str(tmp_path / "z.parquet"), "--workers", "0"]) == 2


def test_label_dask_without_dask_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "dask", None)
    src = _csv(tmp_path, REPORTS)
    args = ["label", str(src), "--id-column", "ID", "--text-column", "TEXT", "--dask"]
    assert main([*args, "--out", str(tmp_path / "o.parquet")]) == 2
    assert "radlens[scale]" in " ".join(capsys.readouterr().err.split())
