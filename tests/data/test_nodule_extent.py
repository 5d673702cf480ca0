"""`blob_extent`: a nodule's voxels on the study's own grid, measured as the truth is."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from radlens.data import blob_extent
from radlens.evaluation import longest_axial_diameter


def _scene(spacing, diameter_mm: float, nodule_hu: float, seed: int = 0, side_mm: float = 80.0):
    """Lung (-850 HU, noise 20) with one ball of `diameter_mm` at the middle: (hu, ball, centre)."""
    sp = np.asarray(spacing, dtype=float)
    shape = tuple(int(s) for s in np.ceil(np.array([60.0, side_mm, side_mm]) / sp))
    centre = np.asarray(shape) / 2 + 0.3
    zz, yy, xx = np.indices(shape)
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip((zz, yy, xx), centre, sp, strict=True))
    ball = d2 <= (diameter_mm / 2) ** 2
    hu = np.full(shape, -850.0, dtype=np.float32)
    hu[ball] = nodule_hu
    hu += np.random.default_rng(seed).normal(0.0, 20.0, shape).astype(np.float32)
    return hu, ball, centre


def _full(extent, shape) -> np.ndarray:
    out = np.zeros(shape, dtype=bool)
    out[extent.box] = extent.mask
    return out


@pytest.mark.parametrize(
    ("spacing", "diameter", "hu"),
    [
        ((4.0, 3.5, 3.5), 12.0, 40.0),  # the phantom's grid
        ((1.0, 0.7, 0.7), 6.0, 40.0),  # a thin-slice clinical grid
        ((1.0, 0.7, 0.7), 20.0, -600.0),  # a ground-glass nodule
        ((2.5, 0.8, 0.8), 10.0, -300.0),
    ],
)
def test_a_ball_is_measured_within_a_pixel_and_a_half(spacing, diameter, hu) -> None:
    img, ball, centre = _scene(spacing, diameter, hu)
    # the detector's centre is a voxel or so off and its radius a scale estimate
    off = centre + np.array([0.6, -0.7, 0.5])
    extent = blob_extent(img, spacing, off, radius_mm=diameter / 2 * 1.2)
    assert extent is not None
    mask = _full(extent, img.shape)
    measured, _ = longest_axial_diameter(mask, spacing[1:])
    truth, _ = longest_axial_diameter(ball, spacing[1:])
    assert abs(measured - truth) <= 1.5 * max(spacing[1:])  # the calliper of pixel corners
    dice = 2 * (mask & ball).sum() / (mask.sum() + ball.sum())
    assert dice > 0.8
    assert extent.threshold_hu == pytest.approx((hu - 850.0) / 2, abs=60.0)


def test_a_vessel_through_the_nodule_is_cut_at_the_search_ball() -> None:
    spacing = (1.0, 0.7, 0.7)
    img, ball, centre = _scene(spacing, 8.0, 40.0)
    _, yy, xx = np.indices(img.shape)
    vessel = ((yy - centre[1]) * 0.7) ** 2 + ((xx - centre[2]) * 0.7) ** 2 <= 1.5**2
    img[vessel] = 40.0  # runs through every slice, in one piece with the nodule
    mask = _full(blob_extent(img, spacing, centre, radius_mm=4.0), img.shape)
    assert mask[ball].mean() > 0.7  # the nodule, and of the vessel only what is near it
    z = np.flatnonzero(mask.any(axis=(1, 2)))
    assert 8 <= len(z) <= 2 * 1.5 * 4.0 + 1 < img.shape[0] / 4


@pytest.mark.parametrize("spacing", [(4.0, 3.5, 3.5), (1.25, 0.8, 0.8)])
@pytest.mark.parametrize("diameter", [50.0, 65.0])
def test_a_mass_larger_than_the_search_ball_is_measured_whole(spacing, diameter) -> None:
    img, ball, centre = _scene(spacing, diameter, 40.0, side_mm=170.0)
    extent = blob_extent(img, spacing, centre, radius_mm=10.0 * 3**0.5)  # the largest LoG scale
    assert extent is not None
    measured, _ = longest_axial_diameter(_full(extent, img.shape), spacing[1:])
    truth, _ = longest_axial_diameter(ball, spacing[1:])
    assert abs(measured - truth) <= 1.5 * max(spacing[1:])


def test_no_contrast_no_extent_and_bad_arguments() -> None:
    flat = np.full((20, 20, 20), -850.0, dtype=np.float32)
    assert blob_extent(flat, (1.0, 1.0, 1.0), (10, 10, 10), 3.0) is None
    with pytest.raises(ValueError, match="radius"):
        blob_extent(flat, (1.0, 1.0, 1.0), (10, 10, 10), 0.0)
    with pytest.raises(ValueError, match="spacing"):
        blob_extent(flat, (1.0, -1.0, 1.0), (10, 10, 10), 3.0)
    with pytest.raises(ValueError, match="3-D"):
        blob_extent(flat[0], (1.0, 1.0, 1.0), (10, 10), 3.0)


def test_a_region_keeps_a_nodule_against_the_chest_wall_out_of_the_wall() -> None:
    spacing = (2.0, 1.0, 1.0)
    img, ball, centre = _scene(spacing, 12.0, 40.0)
    wall = np.zeros(img.shape, dtype=bool)
    wall[:, :, int(centre[2]) + 5 :] = True  # soft tissue from the nodule's edge outwards
    img[wall] = 40.0
    lungs = ~wall
    leaked = _full(blob_extent(img, spacing, centre, radius_mm=6.0), img.shape)
    assert (leaked & wall).sum() > (leaked & ball).sum() / 2  # the threshold follows the wall
    kept = _full(blob_extent(img, spacing, centre, radius_mm=6.0, region=lungs), img.shape)
    assert not (kept & wall).any()
    assert 2 * (kept & ball).sum() / (kept.sum() + ball.sum()) > 0.8
    with pytest.raises(ValueError, match="region of shape"):
        blob_extent(img, spacing, centre, radius_mm=6.0, region=lungs[1:])


def test_a_textured_mass_larger_than_the_search_ball_is_measured_whole() -> None:
    # a 50 mm mass whose inside varies by ~60 HU over ~7 mm: a search ball inside it sees the
    # mass's own texture as background, with contrast, and must grow until it reaches the lung
    spacing = (4.0, 3.5, 3.5)
    img, ball, centre = _scene(spacing, 50.0, 40.0, side_mm=170.0)
    texture = np.random.default_rng(3).normal(0.0, 1.0, img.shape)
    texture = ndimage.gaussian_filter(texture, sigma=2.0 / np.asarray([1.0, 1.75, 1.75]))
    img[ball] += (texture[ball] / texture[ball].std() * 60.0).astype(np.float32)
    extent = blob_extent(img, spacing, centre, radius_mm=5.0 * 3**0.5)  # a small LoG scale
    assert extent is not None
    mask = _full(extent, img.shape)
    assert 2 * (mask & ball).sum() / (mask.sum() + ball.sum()) > 0.8


def test_a_mass_found_off_its_centre_is_searched_again_around_what_was_found() -> None:
    # a small-scale candidate 17.5 mm off the centre of a 50 mm mass: the grown ball is centred
    # on the blob found so far (growing around the candidate gave Dice 0.68)
    spacing = (4.0, 3.5, 3.5)
    img, ball, centre = _scene(spacing, 50.0, 40.0, side_mm=170.0)
    off = centre + np.array([0.0, 0.0, 17.5 / 3.5])
    mask = _full(blob_extent(img, spacing, off, radius_mm=5.0 * 3**0.5), img.shape)
    assert 2 * (mask & ball).sum() / (mask.sum() + ball.sum()) > 0.72
