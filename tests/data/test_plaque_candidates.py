"""Calcification candidates: the region between the lungs and its dense peaks."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.data import dense_candidates, mediastinal_region
from tests._support.nodule_cohort import SHAPE, SPACING, chest


def _with_plaque_and_bone() -> tuple[np.ndarray, tuple[int, int, int], tuple[int, int, int]]:
    hu, _ = chest(np.random.default_rng(5), with_nodule=False)  # lungs centred at x 16 and 40
    plaque = (12, 28, 28)  # between the lungs
    hu[plaque] = 600.0
    rib = (12, 28, 3)  # in the chest wall, outside the lungs' hull
    hu[rib] = 900.0
    return hu, plaque, rib


def test_the_region_lies_between_the_lungs_not_in_them_nor_in_the_chest_wall() -> None:
    hu, plaque, rib = _with_plaque_and_bone()
    region = mediastinal_region(hu)
    assert region[plaque] and not region[rib]
    assert not region[12, 28, 16] and not region[12, 28, 40]  # lung
    assert not region[0].any()  # a slice without lung has no mediastinum
    with pytest.raises(ValueError, match="3-D"):
        mediastinal_region(hu[0])
    with pytest.raises(ValueError, match="same shape"):
        mediastinal_region(hu, np.zeros((2, 2, 2), bool))


def test_dense_peaks_find_the_plaque_densest_first_and_keep_the_limit() -> None:
    hu, plaque, rib = _with_plaque_and_bone()
    region = mediastinal_region(hu)
    found = dense_candidates(hu, SPACING, region)
    assert found.centres[0].tolist() == list(plaque)  # the densest peak in the region
    assert (found.responses >= 90.0).all() and np.all(np.diff(found.responses) <= 0)
    assert list(rib) not in found.centres.tolist()
    assert len(dense_candidates(hu, SPACING, region, min_hu=700.0)) == 0
    hu[12, 20, 28] = 300.0  # a second, fainter peak: the limit keeps the densest
    two = dense_candidates(hu, SPACING, region)
    assert two.centres[:2].tolist() == [list(plaque), [12, 20, 28]]
    assert dense_candidates(hu, SPACING, region, limit=1).centres.tolist() == [list(plaque)]


def test_dense_peaks_refuse_bad_inputs() -> None:
    hu = np.zeros(SHAPE, dtype=np.float32)
    with pytest.raises(ValueError, match="same 3-D shape"):
        dense_candidates(hu, SPACING, np.ones((2, 2, 2), bool))
    with pytest.raises(ValueError, match="three positive"):
        dense_candidates(hu, (1.0, -1.0, 1.0), np.ones(SHAPE, bool))
    with pytest.raises(ValueError, match="limit"):
        dense_candidates(hu, SPACING, np.ones(SHAPE, bool), limit=0)
