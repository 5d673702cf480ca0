"""Near-duplicate detection: shifted, flipped, re-windowed, noised and re-sampled copies are
found, distinct images are not, in 2D and 3D, and on real PneumoniaMNIST radiographs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _support.shared import missing_data
from scipy import ndimage

from radlens.data import (
    DuplicatePair,
    describe_images,
    find_split_duplicates,
    grayscale_items,
    match_descriptors,
)
from radlens.data.duplicates import Rule, best_of_query, flag_candidates, scored_candidates
from radlens.errors import DataError
from radlens.phantom import make_phantom

UNOFFICIAL = "pneumoniamnist_UNOFFICIAL_trainsubset.npz"


def _smooth_images(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    imgs = ndimage.gaussian_filter(rng.normal(size=(n, *shape)), (0,) + (2.5,) * len(shape))
    return (imgs - imgs.min()) / (imgs.max() - imgs.min()) * 255


def _copies(img: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    shifted = ndimage.shift(img, (0,) * (img.ndim - 1) + (1,), order=0, mode="nearest")
    return {
        "shift 1 px": shifted,
        "flip": img[..., ::-1],
        "re-window": np.clip((img - 20) / 200, 0, 1) ** 0.7 * 4095,
        "noise": img + rng.normal(0, 5, img.shape),
        "re-sample": ndimage.zoom(img, 1.1, order=1),
    }


def test_each_kind_of_copy_is_found_and_distinct_images_are_not() -> None:
    ref = _smooth_images(30, (40, 40), seed=0)
    rng = np.random.default_rng(1)
    copies = _copies(ref[7], rng)
    distinct = list(_smooth_images(10, (40, 40), seed=2))
    queries = describe_images([*copies.values(), *distinct])
    pairs = match_descriptors(describe_images(ref), queries)
    assert [(i, j) for i, j, _ in pairs] == [(7, k) for k in range(len(copies))], copies.keys()
    assert all(s >= 0.97 for _, _, s in pairs)
    # the same images against themselves: no pair among 30 distinct images
    assert match_descriptors(describe_images(ref)) == []


def test_3d_volumes_shifted_flipped_noised_are_found() -> None:
    vols = _smooth_images(12, (16, 32, 32), seed=3)
    rng = np.random.default_rng(4)
    shifted = ndimage.shift(vols[5], (1, 2, -2), order=0, mode="nearest")
    copy = shifted[..., ::-1] + rng.normal(0, 5, shifted.shape)
    found = find_split_duplicates({"train": vols[:8], "test": [copy, *vols[8:]]})
    assert [(p.split_a, p.index_a, p.split_b, p.index_b) for p in found] == [
        ("train", 5, "test", 0)
    ]
    assert isinstance(found[0], DuplicatePair) and found[0].to_dict()["similarity"] >= 0.97


def test_splits_are_compared_pairwise_with_their_names() -> None:
    imgs = _smooth_images(9, (32, 32), seed=5)
    found = find_split_duplicates(
        {"train": imgs[:3], "val": [imgs[3], imgs[4]], "test": [imgs[5], imgs[4][:, ::-1]]}
    )
    assert [(p.split_a, p.index_a, p.split_b, p.index_b) for p in found] == [("val", 1, "test", 1)]


def test_bad_inputs_are_named() -> None:
    with pytest.raises(DataError, match=r"2D images .* or 3D volumes"):
        describe_images([np.zeros((4, 4, 4, 4))])
    with pytest.raises(DataError, match=r"mix items of \[2, 3\] dimensions"):
        find_split_duplicates({"train": [np.ones((8, 8))], "test": [np.ones((4, 8, 8))]})
    with pytest.raises(DataError, match=r"item 1 .* not finite"):
        describe_images([np.ones((8, 8)), np.full((8, 8), np.nan)], what="test images")


def test_real_radiographs_shift_and_flip(medmnist_dir: Path) -> None:
    """The issue's misses (a 1-px shift, a horizontal flip) on real PneumoniaMNIST images."""
    src = medmnist_dir / UNOFFICIAL
    if not src.is_file():
        missing_data(f"{src} not present")
    train = np.load(src)["train_images"][:600]
    img = train[123].astype(float)
    queries = [
        ndimage.shift(img, (0, 1), order=0, mode="nearest"),
        img[:, ::-1],
        np.clip(img * 1.3 - 30, 0, 255),
    ]
    pairs = match_descriptors(describe_images(train), describe_images(queries))
    assert [(i, j) for i, j, _ in pairs] == [(123, 0), (123, 1), (123, 2)]


def test_only_a_query_s_best_match_is_flagged_by_the_rule() -> None:
    pairs = np.array([[0, 0], [1, 0], [2, 1], [3, 1], [4, 2]])
    sim = np.array([0.99, 0.995, 0.99, 0.98, 0.975])
    assert best_of_query(pairs, sim).tolist() == [False, True, True, False, True]
    contrast = np.array([9.0, 1.0, 2.0, 9.0, 3.0])
    rule = Rule(threshold=0.97, min_contrast=3.0, certain=0.994)
    # (1, 0) is certain; (2, 1) is best but does not stand out; (3, 1) stands out but is not
    # its query's best; (4, 2) is above threshold and stands out
    assert flag_candidates(pairs, sim, contrast, rule).tolist() == [
        False, True, False, False, True
    ]  # fmt: skip


def test_grayscale_items_average_the_channel_axis() -> None:
    first = np.stack([np.zeros((3, 4, 5, 6)), np.full((3, 4, 5, 6), 2.0)], axis=1)
    assert grayscale_items(first, 3, 2).shape == (3, 4, 5, 6)
    assert float(grayscale_items(first, 3, 2).max()) == 1.0
    last = np.ones((5, 8, 8, 3))
    assert grayscale_items(last, 2, 3).shape == (5, 8, 8)
    assert grayscale_items(np.ones((5, 8, 8)), 2).shape == (5, 8, 8)
    with pytest.raises(DataError, match="expected"):
        grayscale_items(np.ones((5, 8)), 2)


@pytest.mark.slow
def test_planted_phantom_ct_copies_are_found_and_other_patients_are_not() -> None:
    """3D on phantom CT volumes (another patient per seed; the benchmark's 32x48x48): a
    re-windowed + noised, a re-sampled and a shifted + flipped copy are found against 16
    patients, and two other patients are not flagged."""
    vols = [make_phantom(seed, shape=(32, 48, 48)).volume.array for seed in range(18)]
    rng = np.random.default_rng(0)
    windowed = np.clip((vols[2] + 900) / 1300, 0, 1) ** 0.8 * 255
    copies = [
        windowed + rng.normal(0, 5, windowed.shape),
        ndimage.zoom(vols[5], 1.1, order=1),
        ndimage.shift(vols[6], (1, 2, -2), order=0, mode="nearest")[..., ::-1],
    ]
    found = find_split_duplicates({"train": vols[:16], "test": [*copies, *vols[16:]]})
    got = [(p.split_a, p.index_a, p.split_b, p.index_b) for p in found]
    assert got == [("train", 2, "test", 0), ("train", 5, "test", 1), ("train", 6, "test", 2)]


def test_phantom_near_twins_are_not_flagged_but_their_copies_are() -> None:
    """Phantom patients share one anatomy template (best matches correlate > 0.95), yet only the
    planted copies (a one-slice + in-plane shift with the mirror, a re-window with noise) are
    flagged: a copy is far closer to its source than any other patient is."""
    vols = [make_phantom(500 + k, shape=(24, 40, 40)).volume.array for k in range(14)]
    rng = np.random.default_rng(3)
    shifted = ndimage.shift(vols[3], (1, 2, -1), order=0, mode="nearest")[..., ::-1]
    windowed = np.clip((vols[7] + 850) / 1500, 0, 1) ** 1.2 * 4095
    queries = [shifted, windowed + rng.normal(0, 40, windowed.shape), vols[12], vols[13]]
    ref, q = describe_images(vols[:12]), describe_images(queries)
    pairs, sim, _ = scored_candidates(ref, q)
    best = best_of_query(pairs, sim)
    twins = sim[best & (pairs[:, 1] >= 2)]
    assert len(twins) == 2 and twins.min() > 0.95
    assert [(i, j) for i, j, _ in match_descriptors(ref, q)] == [(3, 0), (7, 1)]
