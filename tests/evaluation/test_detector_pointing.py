"""The detector's pointing game on hand-built studies: strict, within 10 mm, chance, misses."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.data.nodule_candidates import BlobCandidates
from radlens.evaluation.nodule_detection import detector_pointing
from radlens.training.nodule_detection import StudyCandidates


def _study(centres: list[tuple[int, int, int]], mask: np.ndarray, name: str) -> StudyCandidates:
    n = len(centres)
    cands = BlobCandidates(np.asarray(centres, int).reshape(-1, 3), np.ones(n), np.ones(n))
    empty = np.zeros((0, 2, 2, 2), np.uint8)
    return StudyCandidates(
        name, "P" + name, "test", (2.0, 2.0, 2.0), cands, np.zeros((n, 2, 2, 2), np.uint8),
        np.full(n, -1), empty, mask,
    )  # fmt: skip


def test_pointing_counts_the_top_candidate_against_the_lesion() -> None:
    mask = np.zeros((20, 20, 20), dtype=bool)
    mask[8:11, 8:11, 8:11] = True  # a lesion at voxels 8-10 (2 mm voxels)
    # top candidate inside; 2nd 4 voxels (8 mm) off the lesion's edge; 3rd far away
    inside = _study([(9, 9, 9), (9, 9, 14), (0, 0, 0)], mask, "a")
    # top candidate 8 mm off the edge (near, not strict); the lesion's centre ranks second
    near = _study([(9, 9, 14), (9, 9, 9)], mask, "b")
    # top candidate 6 voxels (12 mm) off: a miss at 10 mm
    far = _study([(9, 9, 16), (9, 9, 9)], mask, "c")
    nothing = _study([], mask, "d")  # no candidate at all: a miss
    healthy = _study([(3, 3, 3)], np.zeros_like(mask), "e")  # no lesion: not counted
    studies = [inside, near, far, nothing, healthy]
    scores = [np.array([0.9, 0.5, 0.1]), np.array([0.8, 0.2]), np.array([0.7, 0.6]),
              np.zeros(0), np.array([0.9])]  # fmt: skip
    out = detector_pointing(studies, scores)
    assert out["n"] == 4 and out["hits"] == 2
    assert out["pointing_game"] == pytest.approx(2 / 4)
    assert out["pointing_game_strict"] == pytest.approx(1 / 4)
    # random candidate: a 2/3 near, 1/3 inside; b 2/2, 1/2; c 1/2, 1/2; d none: 0
    assert out["chance"] == pytest.approx((2 / 3 + 1 + 1 / 2 + 0) / 4)
    assert out["chance_strict"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 2 + 0) / 4)
    assert out["tolerance"] == "10 mm"
    # a tighter tolerance turns b's near hit into a miss
    assert detector_pointing(studies, scores, tolerance_mm=6.0)["hits"] == 1


def test_pointing_without_a_lesion_anywhere_is_undefined_not_zero() -> None:
    mask = np.zeros((6, 6, 6), dtype=bool)
    out = detector_pointing([_study([(1, 1, 1)], mask, "a")], [np.array([0.3])])
    assert out["n"] == 0 and out["pointing_game"] is None and out["chance"] is None
