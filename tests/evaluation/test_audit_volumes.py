"""The leakage audit compares 3D volumes too: `audit_leakage` on volumes names them and counts
every split pair compared, and `evaluate_run_dir` on a tiny CT-cohort run (config.yaml naming a
phantom cohort) hashes its train/val/test volumes and lists the comparison in report.html."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _support.evaluation_synth import write_run_dir
from scipy import ndimage

from radlens.evaluation import audit_leakage, evaluate_run_dir
from radlens.phantom import synthesize_cohort
from radlens.training import load_dataset, make_config

SHAPE = [16, 32, 32]


def _frame(ids: dict[str, list[str]], patients: dict[str, list[str]], labels) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for split in ids:
        n = len(ids[split])
        cols = {"id": ids[split], "patient_id": patients[split], "split": split, "site": ""}
        for name in labels:
            y = (np.arange(n) % 2).astype(float)
            cols[f"target:{name}"] = y
            cols[f"score:{name}"] = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)
        parts.append(pd.DataFrame(cols))
    frame = pd.concat(parts, ignore_index=True)
    frame.attrs["radlens"] = {"task": "multi-label", "label_names": list(labels)}
    return frame


def test_volumes_are_compared_pairwise_with_counts() -> None:
    rng = np.random.default_rng(0)
    vols = ndimage.gaussian_filter(rng.normal(size=(10, 12, 24, 24)), (0, 2, 2.5, 2.5)) * 900
    train, val = vols[:5], vols[5:7]
    copy = ndimage.shift(train[2], (1, 0, 2), order=0, mode="nearest")[..., ::-1]
    test = [vols[7], copy + rng.normal(0, 20, copy.shape), vols[8]]
    patients = {"val": ["v1", "v2"], "test": ["t1", "t2", "t3"]}
    frame = _frame({s: [f"{s}{i}" for i in range(len(p))] for s, p in patients.items()},
                   patients, ["nodule"])  # fmt: skip
    report = audit_leakage(frame, train_images=train, val_images=val, eval_images=test)
    assert [(p.split_a, p.index_a, p.split_b, p.index_b) for p in report.near_duplicates] == [
        ("train", 2, "test", 1)
    ]
    doc = report.to_dict()
    assert doc["duplicate_kind"] == "volumes" and doc["n_images_hashed"] == 10
    rows = {r["splits"]: r for r in doc["duplicate_comparisons"]}
    assert list(rows) == ["train/val", "train/test", "val/test"]
    assert rows["train/test"] == {
        "splits": "train/test", "n_train": 5, "n_test": 3, "n_compared": 15, "n_pairs": 1
    }  # fmt: skip
    assert rows["val/test"]["n_pairs"] == 0
    assert any(c.startswith("near-duplicate volumes (train/val") for c in report.checked)


@pytest.fixture(scope="module")
def ct_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ct_audit")
    cohort = root / "cohort"
    synthesize_cohort(
        cohort, n_patients=8, seed=3, shape=tuple(SHAPE), formats=("nifti",), progress=False
    )
    config = {
        "cohort": str(cohort),
        "cohort_shape": SHAPE,
        "cohort_cache": str(root / "cache"),
        "cohort_min_location_positives": 1,
        "model": "ctnet_3d",
        "seed": 0,
    }
    ds = load_dataset(make_config(config, source="test"))
    ids = {s: [str(i) for i in ds.ids[s]] for s in ("val", "test")}
    patients = {s: [str(p) for p in ds.patient_ids[s]] for s in ("val", "test")}
    run = write_run_dir(root / "run", _frame(ids, patients, ds.label_names[:2]), dataset="ct")
    (run / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return run


@pytest.mark.slow
def test_evaluate_run_dir_compares_the_cohort_volumes(ct_run: Path) -> None:
    ds = load_dataset(make_config(yaml.safe_load((ct_run / "config.yaml").read_text())))
    sizes = {s: ds.size(s) for s in ("train", "val", "test")}
    skipped = evaluate_run_dir(ct_run, n_bootstrap=0, write=False).leakage  # the default
    assert skipped["n_images_hashed"] == 0 and any(
        "not compared (opt in with" in c for c in skipped["checked"]
    )
    result = evaluate_run_dir(ct_run, n_bootstrap=0, audit_volumes=True)
    audit = result.leakage
    assert audit["duplicate_kind"] == "volumes"
    assert audit["n_images_hashed"] == sum(sizes.values())
    rows = {r["splits"]: r for r in audit["duplicate_comparisons"]}
    assert rows["train/test"]["n_compared"] == sizes["train"] * sizes["test"]
    assert set(rows) == {"train/val", "train/test", "val/test"}
    doc = json.loads((ct_run / "evaluation.json").read_text())["leakage_audit"]
    assert doc["duplicate_comparisons"] == audit["duplicate_comparisons"]
    html = (ct_run / "report.html").read_text()
    assert "volumes compared" in html and '<td class="l">val/test</td>' in html
