"""The table-building code of benchmarks/label_efficiency.py and benchmarks/external_site.py on
made-up run figures (no training here: the benchmarks themselves are the long runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import external_site as ext  # noqa: E402
import label_efficiency as le  # noqa: E402

# macro AUROC per (start, fraction) for seeds 0, 1, 2
FIGURES = {
    ("scratch", 0.1): [0.50, 0.54, 0.52],
    ("ssl", 0.1): [0.60, 0.62, 0.64],  # beats scratch: 0.62 - 0.02 > 0.52 + 0.02
    ("image_text_global", 0.1): [0.50, 0.60, 0.55],  # mean 0.55, sd 0.05: inside the spread
    ("image_text_local", 0.1): [0.53, 0.52, 0.51],
    ("scratch", 1.0): [0.80, 0.82, 0.84],
    ("ssl", 1.0): [0.81, 0.83, 0.85],
}


def runs() -> list[dict]:
    return [
        {"start": start, "fraction": fraction, "seed": seed, "macro_auroc": auc,
         "images": 14 if fraction < 1 else 140, "micro_auroc_ci95": [auc - 0.1, auc + 0.1],
         "positives": {"effusion": 3 + seed, "nodule": 1}}
        for (start, fraction), aucs in FIGURES.items() for seed, auc in enumerate(aucs)
    ]  # fmt: skip


def test_summary_is_mean_and_sample_sd_over_seeds_in_start_order() -> None:
    table = le.summarise(runs())
    assert [(r["start"], r["fraction"]) for r in table][:4] == [
        ("scratch", 0.1), ("ssl", 0.1), ("image_text_global", 0.1), ("image_text_local", 0.1)
    ]  # fmt: skip
    cell = {(r["start"], r["fraction"]): r for r in table}
    assert cell[("scratch", 0.1)]["mean_auroc"] == 0.52
    assert cell[("scratch", 0.1)]["sd"] == 0.02  # sample sd of 0.50, 0.54, 0.52
    assert cell[("image_text_global", 0.1)]["sd"] == 0.05
    assert cell[("ssl", 1.0)]["per_seed"] == [0.81, 0.83, 0.85]


def test_verdicts_need_a_margin_outside_both_spreads_and_skip_full_labels() -> None:
    table = le.summarise(runs())
    verdicts = {(v["start"], v["fraction"]): v for v in le.verdicts(runs(), table)}
    assert set(verdicts) == {("ssl", 0.1), ("image_text_global", 0.1), ("image_text_local", 0.1)}
    ssl = verdicts[("ssl", 0.1)]
    assert ssl["beats_scratch_outside_spread"] and ssl["gain"] == 0.1
    assert ssl["paired_gain_mean"] == 0.1 and ssl["paired_gain_sd"] == pytest.approx(0.02, 1e-3)
    assert not verdicts[("image_text_global", 0.1)]["beats_scratch_outside_spread"]
    assert verdicts[("image_text_local", 0.1)]["gain"] == pytest.approx(0.0)
    text = le.markdown(table)
    assert "| ssl | 0.620 ± 0.020 (n=14) | 0.830 ± 0.020 (n=140) |" in text
    assert "| image_text_local | 0.520 ± 0.010 (n=14) | - |" in text
    assert "at 0.1 (per seed): effusion 3, nodule 1; effusion 4, nodule 1; effusion 5" in text


def test_rebuild_remakes_the_table_from_saved_runs(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"runs": runs(), "table": [], "markdown": ""}))
    result = le.rebuild(path)
    assert json.loads(path.read_text())["table"] == result["table"]
    assert len(result["table"]) == len(FIGURES) and len(result["verdicts"]) == 3


def test_batch_size_gives_small_subsets_several_steps() -> None:
    assert le.batch_for(140, 32) == 32
    assert le.batch_for(14, 32) == 4
    assert le.batch_for(3, 32) == 2


def pairs() -> pd.DataFrame:
    rows = []
    for i in range(30):
        site = ("site_a", "site_b", "site_c")[i % 3]
        rows.append({"patient_id": f"P{i:02d}", "study_id": f"S{i}", "site": site,
                     "image": f"img{i}.png", le.TRUTH + "effusion": float(i % 2),
                     le.TRUTH + "rare": float(i in (1, 4, 7))})  # fmt: skip
    return pd.DataFrame(rows)


def test_holdout_split_puts_the_site_in_test_only_and_splits_the_others_by_patient() -> None:
    p = pairs()
    split = ext.holdout_split(p, "site_c", seed=0)
    assert (split[p["site"] == "site_c"] == "test").all()
    others = split[p["site"] != "site_c"]
    assert set(others) <= {"train", "val", "test"} and (others == "train").sum() > 5
    with pytest.raises(SystemExit, match="site_x"):
        ext.holdout_split(p, "site_x", seed=0)
    tiny = p[(p["site"] == "site_c") | (p["patient_id"] == "P00")]  # one patient elsewhere
    with pytest.raises(SystemExit, match="leave no"):
        ext.holdout_split(tiny, "site_c", seed=0)
    p["split"] = split
    # "rare" is positive only in P01 (site_b), P04 (site_b), P07 (site_b): none at site_c
    assert ext.usable_findings(p, ["effusion", "rare"], "site_c", 1) == ["effusion"]


def _figures(auc: float, se: float) -> dict:
    return {"macro_auroc": auc, "micro_auroc": auc,
            "micro_auroc_ci95": [auc - 1.959964 * se, auc + 1.959964 * se],
            "per_finding": {"effusion": {"auroc": auc, "se": se}}}  # fmt: skip


def test_drop_ci_adds_the_two_independent_variances() -> None:
    d = ext.drop(_figures(0.80, 0.03), _figures(0.70, 0.04))
    assert d["macro_drop"] == pytest.approx(-0.10)
    assert d["per_finding"]["effusion"]["drop"] == pytest.approx(-0.10)
    half = 1.959964 * 0.05  # sqrt(0.03^2 + 0.04^2) = 0.05
    assert d["per_finding"]["effusion"]["ci95"] == pytest.approx([-0.10 - half, -0.10 + half], 1e-3)
    assert d["micro_drop_ci95"] == pytest.approx([-0.10 - half, -0.10 + half], 1e-3)


def test_external_table_averages_seeds_and_prints_each_seeds_ci() -> None:
    results = [
        {"method": "finetune_scratch", "seed": s, "in_distribution": _figures(0.8, 0.03),
         "external": _figures(0.8 - d, 0.04),
         "drop": ext.drop(_figures(0.8, 0.03), _figures(0.8 - d, 0.04))}
        for s, d in enumerate((0.1, 0.2))
    ]  # fmt: skip
    (row,) = ext.table(results)
    assert row["macro_drop"] == pytest.approx(-0.15)
    assert row["macro_drop_sd"] == pytest.approx(np.std([-0.1, -0.2], ddof=1), abs=1e-4)
    text = ext.markdown([row])
    assert "-0.100 [-0.198, -0.002]; -0.200 [-0.298, -0.102] |" in text


def test_zero_shot_rows_are_a_no_label_column_without_verdicts() -> None:
    zs = [{"start": start, "fraction": 0.0, "seed": seed, "macro_auroc": auc, "images": 0,
           "micro_auroc_ci95": [auc - 0.1, auc + 0.1], "positives": None}
          for start, aucs in (("image_text_global", [0.60, 0.64]),
                              ("image_text_local", [0.70, 0.72]))
          for seed, auc in enumerate(aucs)]  # fmt: skip
    table = le.summarise(runs() + zs)
    assert [(r["start"], r["fraction"]) for r in table][:2] == [
        ("image_text_global", 0.0), ("image_text_local", 0.0)]  # fmt: skip
    verdicts = le.verdicts(runs() + zs, table)
    assert {v["fraction"] for v in verdicts} == {0.1}  # nothing to compare without labels
    text = le.markdown(table)
    assert text.splitlines()[0].startswith("| start | zero-shot (no labels) | 0.1 of labels |")
    assert "| image_text_local | 0.710 ± 0.014 (n=0) | 0.520 ± 0.010 (n=14) | - |" in text
    assert "| scratch | - | 0.520 ± 0.020 (n=14) | 0.820 ± 0.020 (n=140) |" in text


def test_linear_probes_get_rows_after_the_fine_tuned_starts_and_verdicts() -> None:
    probes = [{"start": "ssl_probe", "fraction": 0.1, "seed": seed, "macro_auroc": auc,
               "images": 14, "micro_auroc_ci95": [auc - 0.1, auc + 0.1], "positives": None}
              for seed, auc in enumerate([0.70, 0.72, 0.74])]  # fmt: skip
    table = le.summarise(runs() + probes)
    assert [r["start"] for r in table if r["fraction"] == 0.1][-1] == "ssl_probe"
    verdict = {v["start"]: v for v in le.verdicts(runs() + probes, table)}["ssl_probe"]
    assert verdict["beats_scratch_outside_spread"] and verdict["paired_gain_mean"] == 0.2
    text = le.markdown(table)
    assert text.index("| image_text_local |") < text.index("| ssl_probe | 0.720 ± 0.020 (n=14) |")
    assert "image_text_global_probe" not in text  # a start without runs gets no row


def test_a_loss_that_never_left_its_start_is_flagged() -> None:
    history = [{"train_loss": 3.39, "train_global": 1.6, "train_local": 2.77},
               {"train_loss": 3.42, "train_global": 1.5, "train_local": 2.76}]  # fmt: skip
    assert le.stalled_losses(history) == ["train_loss", "train_local"]
    assert le.stalled_losses([{"train_loss": 3.2}, {"train_loss": 1.2}]) == []
