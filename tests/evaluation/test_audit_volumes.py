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

from radlens.errors import EvaluationError
from radlens.evaluation import audit_leakage, evaluate_run_dir
from radlens.evaluation.audit import DUPLICATE_CACHE
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


def _planted_case() -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[np.ndarray]]:
    """CT-like volumes (a flat -1000 HU 'air' side, smooth tissue): 5 train, 2 val, 3 test;
    test #1 is train #2 shifted (one slice, two pixels), mirrored and noised."""
    rng = np.random.default_rng(0)
    tissue = ndimage.gaussian_filter(rng.normal(size=(10, 12, 24, 24)), (0, 2, 2.5, 2.5)) * 9000
    vols = np.where(np.arange(24) < 10, -1000.0, tissue + 40)
    copy = ndimage.shift(vols[2], (1, 0, 2), order=0, mode="nearest")[..., ::-1]
    test = [vols[7], copy + rng.normal(0, 20, copy.shape), vols[8]]
    patients = {"val": ["v1", "v2"], "test": ["t1", "t2", "t3"]}
    frame = _frame({s: [f"{s}{i}" for i in range(len(p))] for s, p in patients.items()},
                   patients, ["nodule"])  # fmt: skip
    return frame, vols[:5], vols[5:7], test


def test_volumes_are_compared_pairwise_with_counts() -> None:
    frame, train, val, test = _planted_case()
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


def test_descriptor_cache_is_written_once_and_reused(tmp_path: Path) -> None:
    frame, train, val, test = _planted_case()
    cache = tmp_path / "run" / "duplicate_descriptors.npz"
    first = audit_leakage(
        frame, train_images=train, val_images=val, eval_images=test, duplicate_cache=cache
    )
    stamp = cache.stat().st_mtime_ns
    with np.load(cache) as z:
        assert len(z["keys"]) == 10
    again = audit_leakage(
        frame, train_images=train, val_images=val, eval_images=test, duplicate_cache=cache
    )
    assert cache.stat().st_mtime_ns == stamp  # nothing new to describe: not rewritten
    assert again.near_duplicates == first.near_duplicates
    assert [(p.index_a, p.index_b) for p in again.near_duplicates] == [(2, 1)]


def test_images_and_volumes_mixed_are_refused() -> None:
    frame, train, _val, test = _planted_case()
    with pytest.raises(EvaluationError, match=r"near-duplicate audit failed: .*mix items of"):
        audit_leakage(frame, train_images=train, eval_images=[t[0] for t in test])


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
    assert not (ct_run / DUPLICATE_CACHE).exists()  # nothing described when not compared
    result = evaluate_run_dir(ct_run, n_bootstrap=0, audit_volumes=True)
    assert (ct_run / DUPLICATE_CACHE).is_file()  # the run keeps the descriptors for next time
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
