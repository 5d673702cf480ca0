"""Erect-film rearrangement of pleural fluid and air before the DRR (phantom.cxr_erect)."""

from __future__ import annotations

import numpy as np

from radlens.phantom import make_phantom
from radlens.phantom.cxr_cohort import projected_masks
from radlens.phantom.cxr_erect import (
    MENISCUS_SLOPE,
    PLEURAL_LINE_HU,
    collapse_lung,
    erect_chest,
    settle_fluid,
)


def _box() -> tuple[np.ndarray, np.ndarray]:
    """A (Z 10, Y 4, X 9) volume: a pleural space box of lung (-850 HU) left of the midline."""
    hu = np.full((10, 4, 9), 40.0, dtype=np.float32)
    space = np.zeros(hu.shape, bool)
    space[:, :, :4] = True  # x 0..3: lateral x = 0, medial x = 3 (midline at x = 4)
    hu[space] = -850.0
    return hu, space


def test_fluid_settles_at_the_base_with_a_meniscus_and_keeps_its_volume() -> None:
    hu, space = _box()
    fluid = np.zeros_like(space)
    fluid[:, 3, :4] = True  # a posterior layer over the whole height: 40 voxels
    new = settle_fluid(hu, space, fluid, (1.0, 1.0, 1.0), fill=-800.0)
    assert new.sum() == 40 and not (new & ~space).any()
    # by hand: height z - 0.3 |x - 4|; the 40 lowest of the 160 voxels
    z, _, x = np.nonzero(space)
    height = z - MENISCUS_SLOPE * np.abs(x - 4.0)
    cut = np.sort(height)[39]
    assert (height[new[space]] <= cut).all()
    assert new[0][space[0]].all()  # the whole bottom slice is fluid
    assert new[:, :, 0].sum() > new[:, :, 3].sum()  # fluid climbs the lateral wall
    assert np.all(hu[new] == 10.0)
    assert np.all(hu[fluid & ~new] == -800.0)  # the supine layer became aerated lung


def test_pneumothorax_rises_to_an_apical_and_lateral_rim_without_lung_behind_it() -> None:
    hu = np.full((40, 6, 24), 40.0, dtype=np.float32)
    space = np.zeros(hu.shape, bool)
    space[2:38, 1:5, 1:11] = True  # right pleural space (x < midline 11.5)
    hu[space] = -850.0
    air = np.zeros_like(space)
    air[2:38, 1, 1:11] = True  # supine: an anterior rim
    rim = collapse_lung(hu, space, air, rim_mm=6.0, spacing=(1.0, 1.0, 1.0), fill=-850.0)
    assert rim.any() and not (rim & ~space).any()
    # the rim's columns have no lung behind them on the antero-posterior ray
    cols = rim.any(axis=1)
    lung = space & (hu > -1000.0)
    assert not (lung.any(axis=1) & cols).any()
    assert np.all(hu[rim] == -1000.0)
    # air at the apex (top slices) and laterally (x = 1), none medially at mid-height
    assert cols[37, 5] and cols[20, 1] and not cols[20, 10]
    assert (hu == PLEURAL_LINE_HU).any()  # the visceral pleural line at the lung edge


def test_erect_chest_leaves_its_inputs_and_other_masks_alone() -> None:
    hu, space = _box()
    fluid = np.zeros_like(space)
    fluid[:, 3, :4] = True
    nodule = np.zeros_like(space)
    nodule[5, 1, 1] = True
    masks = {"pleural_effusion@right_pleura": fluid, "nodule@right_upper_lobe": nodule}
    before = hu.copy()
    out, moved = erect_chest(hu, (1.0, 1.0, 1.0), {"pleural_space_right": space}, masks)
    assert np.array_equal(hu, before) and masks["pleural_effusion@right_pleura"] is fluid
    assert moved["nodule@right_upper_lobe"] is nodule
    assert moved["pleural_effusion@right_pleura"].sum() == fluid.sum()
    assert not np.array_equal(out, hu)


def test_radiograph_shows_effusion_at_the_base_and_pneumothorax_as_a_lucent_rim() -> None:
    normal = projected_masks(make_phantom(0, findings=[]), 256, 1)
    eff = projected_masks(make_phantom(0, findings=[("pleural_effusion", "right_pleura")]), 256, 1)
    m = eff.masks["pleural_effusion@right_pleura"]
    rows = np.nonzero(m)[0]
    assert rows.mean() > 256 * 0.5  # in the lower half of the film
    assert eff.image[m].mean() > normal.image[m].mean() + 0.15  # an opacity where fluid lies
    ptx = projected_masks(make_phantom(1, findings=[("pneumothorax", "left_pleura")]), 256, 1)
    m = ptx.masks["pneumothorax@left_pleura"]
    cols = np.nonzero(m)[1]
    assert cols.mean() > 128  # patient left is on the viewer's right (PA)
    # the rim is darker than the same pixels of the same patient without the pneumothorax
    same = projected_masks(make_phantom(1, findings=[]), 256, 1)
    assert ptx.image[m].mean() < same.image[m].mean() - 0.025
