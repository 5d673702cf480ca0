"""Patient-level splits (hash based), leakage check and near-duplicate image hashes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radlens.data.arrays import ArrayDataset
from radlens.data.splits import (
    assign_splits,
    check_dataset_leakage,
    check_no_patient_leakage,
    find_near_duplicates,
    hash_distance,
    image_hash,
    image_hashes,
    normalise_patient_id,
    normalise_patient_ids,
    short_hash,
)
from radlens.errors import ConfigError, DataError

ids = st.lists(st.text(min_size=1, max_size=12).filter(str.strip), max_size=40, unique=True)


@settings(max_examples=60, deadline=None)
@given(ids, ids, st.integers(0, 2**31), st.randoms(use_true_random=False))
def test_splits_pure_order_independent_and_stable(
    base: list[str], added: list[str], seed: int, rnd
) -> None:
    first = assign_splits(base, seed=seed)
    shuffled = list(base)
    rnd.shuffle(shuffled)
    assert assign_splits(shuffled, seed=seed) == first  # order independent
    assert assign_splits(base + base, seed=seed) == first  # duplicates collapse
    grown = assign_splits(shuffled + added, seed=seed)
    assert {p: grown[p.strip()] for p in base} == {p: first[p.strip()] for p in base}
    assert set(first.values()) <= {"train", "val", "test"}
    for pid in base:  # pure function of (id, seed)
        assert assign_splits([pid], seed=seed)[pid.strip()] == first[pid.strip()]


def test_proportions_are_respected_approximately() -> None:
    patients = [f"P{i:05d}" for i in range(20000)]
    for seed, fractions in ((0, (0.7, 0.1, 0.2)), (7, (0.5, 0.25, 0.25)), (3, (0.8, 0.0, 0.2))):
        counts = pd.Series(assign_splits(patients, seed=seed, fractions=fractions)).value_counts()
        for split, frac in zip(("train", "val", "test"), fractions, strict=True):
            assert abs(counts.get(split, 0) / len(patients) - frac) < 0.015
    a = assign_splits(patients, seed=0)
    b = assign_splits(patients, seed=1)
    assert sum(a[p] != b[p] for p in patients) > 5000  # the seed matters


def test_bad_fractions_and_ids() -> None:
    with pytest.raises(ConfigError, match=r"sum to 1\.1"):
        assign_splits(["a"], fractions=(0.7, 0.2, 0.2))
    with pytest.raises(ConfigError, match="three non-negative"):
        assign_splits(["a"], fractions=(0.9, 0.1))
    with pytest.raises(ConfigError, match="three non-negative"):
        assign_splits(["a"], fractions=(1.2, -0.1, -0.1))
    with pytest.raises(DataError, match="patient id is missing"):
        assign_splits(["a", float("nan")])
    with pytest.raises(DataError, match="patient id is empty"):
        assign_splits(["a", "  "])


def test_leakage_check_counts_without_naming_patients() -> None:
    check_no_patient_leakage(["train", "train", "test"], ["p1", "p1", "p2"])
    check_no_patient_leakage(pd.Series(["val", "val"]), pd.Series(["x", "x"]))
    splits = ["train", "test", "train", "val", "test", "train"]
    patients = ["alice", "alice", "bob", "bob", "carol", "dave"]
    with pytest.raises(DataError, match=r"2 of 4 patients .*test/train: 1, train/val: 1") as err:
        check_no_patient_leakage(splits, patients)
    message = str(err.value)
    assert "alice" not in message and "bob" not in message
    assert short_hash("alice") in message
    with pytest.raises(DataError, match="1 of 2 patients"):
        check_no_patient_leakage({"r1": "train", "r2": "val", "r3": "val"},
                                 {"r1": "p", "r2": "p", "r3": "q"})  # fmt: skip
    with pytest.raises(DataError, match="3 split values but 2 patient ids"):
        check_no_patient_leakage(["train"] * 3, ["a", "b"])


def _dataset(patients: dict[str, list[str]]) -> ArrayDataset:
    return ArrayDataset(
        name="t", task="binary", label_names=("a", "b"),
        images={s: np.zeros((len(p), 4, 4), np.uint8) for s, p in patients.items()},
        labels={s: np.zeros((len(p), 1), np.float32) for s, p in patients.items()},
        ids={s: np.array([f"{s}{i}" for i in range(len(p))]) for s, p in patients.items()},
        patient_ids={s: np.array(p) for s, p in patients.items()},
    )  # fmt: skip


def test_dataset_leakage() -> None:
    check_dataset_leakage(_dataset({"train": ["a", "a", "b"], "test": ["c"]}))
    with pytest.raises(DataError, match="1 of 3 patients"):
        check_dataset_leakage(_dataset({"train": ["a", "b"], "test": ["c", "a"]}))


def _phantom(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A smooth random image: a few Gaussian blobs on a gradient."""
    y, x = np.mgrid[0:size, 0:size] / size
    img = 40 * x + 20 * y
    for _ in range(5):
        cy, cx, s, a = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.2), 150
        img += a * rng.uniform(0.3, 1) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * s**2))
    return np.clip(img, 0, 255)


def test_hash_survives_resize_brightness_and_noise_but_separates_images() -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    images = [_phantom(rng) for _ in range(30)]
    hashes = [image_hash(im) for im in images]
    assert len(hashes[0]) == 64  # 256 bits for 2D images
    copies = []
    for im in images:
        small = np.asarray(Image.fromarray(im.astype(np.float32), mode="F").resize((40, 40)))
        copies.append(
            image_hash(np.clip(small * 0.8 + 15 + rng.normal(0, 1.0, small.shape), 0, 255))
        )
    same = [hash_distance(a, b) for a, b in zip(hashes, copies, strict=True)]
    assert max(same) <= 26
    pairs = find_near_duplicates(copies, hashes)  # default: 10% of the bits
    matched = {(i, j) for i, j, _ in pairs}
    assert {(i, i) for i in range(30)} <= matched
    assert len(matched) <= 33  # distinct phantoms rarely collide
    within = find_near_duplicates([*hashes, hashes[3]], None, 0)
    assert (3, 30, 0) in within and all(i < j for i, j, _ in within)


def test_hash_any_dims_and_batch_equivalence() -> None:
    rng = np.random.default_rng(1)
    volume = rng.random((20, 24, 28))
    h3 = image_hash(volume)
    assert len(h3) == 128  # 8**3 bits
    assert image_hash(volume * 3 + 7) == h3  # monotone intensity change
    rgb = rng.integers(0, 255, (32, 32, 3)).astype(np.uint8)
    assert image_hash(rgb) == image_hash(rgb.mean(axis=-1))
    assert image_hash(rgb.transpose(2, 0, 1), channel_axis=0) == image_hash(rgb)
    stack = rng.integers(0, 255, (5, 28, 28)).astype(np.uint8)
    assert image_hashes(stack) == [image_hash(s) for s in stack]
    vols = rng.random((3, 9, 10, 11))
    assert image_hashes(vols) == [image_hash(v) for v in vols]
    tiny = image_hash(np.arange(6.0).reshape(2, 3))  # upsampled: still a valid hash
    assert len(tiny) == 64
    with pytest.raises(DataError, match="cannot hash"):
        image_hash(np.zeros((0, 5)))
    with pytest.raises(DataError, match="different lengths"):
        hash_distance("ab", "abcd")
    with pytest.raises(DataError, match=r"hashes of 256 and 512 bits"):
        find_near_duplicates([image_hash(stack[0])], [h3])


def test_normalise_patient_id_case_whitespace_and_leading_zeros() -> None:
    assert normalise_patient_id(" P0001 ") == normalise_patient_id("p1") == "p1"
    assert normalise_patient_id("P0001", zeros=False) == "p0001"
    assert normalise_patient_id("P0001", case=False) == "P1"
    assert normalise_patient_id("CT-007-02") == "ct-7-2"
    assert normalise_patient_id("000") == "0" and normalise_patient_id(42) == "42"
    assert normalise_patient_ids(["P001", " p1", "x"]).tolist() == ["p1", "p1", "x"]
    with pytest.raises(DataError, match="a patient id is empty"):
        normalise_patient_id("  ")
    with pytest.raises(DataError, match="a patient id is missing"):
        normalise_patient_ids(["P1", None])
