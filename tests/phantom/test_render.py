"""Synthetic chest CT phantom: tissue HU, lobes, each abnormality's mask and HU, sites, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from radlens.errors import ConfigError
from radlens.phantom import (
    ABNORMALITIES,
    LOBE_CODES,
    LOCATIONS,
    SITES,
    get_site,
    make_phantom,
)
from radlens.phantom.render import breathing
from radlens.phantom.sizes import short_axis_mm

SEED = 11


@pytest.fixture(scope="module")
def normal():
    return make_phantom(SEED, findings=[])


def _erode(mask: np.ndarray, n: int = 1) -> np.ndarray:
    return ndi.binary_erosion(mask, iterations=n)


def test_geometry_follows_the_volume_contract(normal) -> None:
    vol = normal.volume
    assert vol.array.dtype == np.float32 and vol.shape == (64, 96, 96)
    assert vol.spacing == pytest.approx((5.0, 3.5, 3.5))
    assert np.allclose(vol.direction, np.eye(3))
    # columns run right -> left: the heart (patient left) sits at high column indices
    heart_cols = np.nonzero(normal.tissues["heart"])[2]
    assert heart_cols.mean() > vol.shape[2] / 2
    # slices run inferior -> superior: the liver is in the lower slices, lung apices in upper
    assert np.nonzero(normal.tissues["liver"])[0].mean() < np.nonzero(normal.lobes)[0].mean()
    assert float(vol.array.min()) >= -1024 and np.array_equal(vol.array, np.round(vol.array))


def test_tissue_hu_ranges(normal) -> None:
    hu, t = normal.volume.array, normal.tissues
    lung = _erode(t["lung_right"] | t["lung_left"], 2)
    assert -880 < hu[lung].mean() < -820
    assert -130 < hu[_erode(t["subcutaneous_fat"])].mean() < -70
    assert 20 < hu[_erode(t["chest_wall_muscle"])].mean() < 70
    assert 25 < hu[_erode(t["heart"], 2)].mean() < 60
    assert hu[t["spine"]].mean() > 250 and normal.clean[t["ribs"]].mean() == pytest.approx(700)
    outside = ~ndi.binary_dilation(t["body"], iterations=3)
    assert hu[outside & (normal.clean == -1000)].mean() < -960
    assert hu[t["airway"]].mean() < -700


def test_lobes_are_anatomical(normal) -> None:
    lobes = normal.lobes
    centroid = {name: np.argwhere(lobes == code).mean(0) for name, code in LOBE_CODES.items()}
    assert all(np.isfinite(c).all() for c in centroid.values())  # all six lobes exist
    for name, (_, _, col) in centroid.items():  # right lobes on the image left (low columns)
        assert (col < 48) == name.startswith("right"), name
    z, y = 0, 1
    assert centroid["right_upper_lobe"][z] > centroid["right_middle_lobe"][z]
    assert centroid["right_lower_lobe"][y] > centroid["right_middle_lobe"][y]  # posterior
    assert centroid["left_lower_lobe"][y] > centroid["left_upper_lobe"][y]
    assert centroid["left_upper_lobe"][z] > centroid["lingula"][z]
    assert set(np.unique(lobes)) == {0, *LOBE_CODES.values()}


LOCATED = [(abn, loc) for abn in ABNORMALITIES for loc in LOCATIONS[abn]]
RAISES = {"nodule", "mass", "consolidation", "ground_glass_opacity", "atelectasis",
          "pleural_effusion", "lymphadenopathy", "arterial_wall_calcification"}  # fmt: skip
LOWERS = {"pneumothorax", "emphysema"}


@pytest.mark.parametrize(("abn", "loc"), LOCATED)
def test_abnormality_mask_location_and_hu(normal, abn: str, loc: str) -> None:
    study = make_phantom(SEED, findings=[(abn, loc)])
    assert study.true_findings == [{"abnormality": abn, "location": loc}]
    mask = study.masks[f"{abn}@{loc}"]
    assert mask.sum() >= (1 if abn == "nodule" else 6)
    if loc in LOBE_CODES:
        in_lobe = (study.lobes[mask] == LOBE_CODES[loc]).mean()
        assert in_lobe >= (0.6 if abn in ("nodule", "mass") else 0.99), in_lobe
    side = loc.split("_")[0]
    if loc.endswith("pleura"):
        space = study.tissues[f"pleural_space_{side}"]
        assert (space[mask]).all()
        ys = np.nonzero(mask)[1].mean()
        lung_y = np.nonzero(space)[1].mean()
        # effusion is dependent (posterior, high rows), pneumothorax non-dependent (anterior)
        assert ys > lung_y + 5 if abn == "pleural_effusion" else ys < lung_y - 5
    if loc.endswith("hilum"):
        cols = np.nonzero(mask)[2].mean()
        assert (cols < 48) == (side == "right")
    before, after = normal.clean[mask].mean(), study.clean[mask].mean()
    if abn in RAISES:
        assert after > before + 50, (before, after)
    if abn in LOWERS:
        assert after < before - 50, (before, after)
    if abn == "arterial_wall_calcification":  # small dense plaques: above the 130 HU threshold
        assert study.volume.array[mask].max() > 130 and study.clean[mask].max() > 150
        vessel = study.tissues["aorta" if loc == "aorta" else "heart"]
        assert (ndi.binary_dilation(vessel, iterations=2)[mask]).all()
    if abn == "cardiomegaly":
        assert mask.sum() > 1.4 * normal.tissues["heart"].sum()
    if abn == "pericardial_effusion":
        assert study.clean[mask].mean() == pytest.approx(10.0)
        assert not (mask & study.tissues["heart"]).any()
    if abn == "lymphadenopathy":  # short axis as drawn (>= 10 mm), within a voxel
        short = short_axis_mm(mask, study.volume.spacing)
        assert 10 - 3.5 <= short <= study.findings[0].size + 3.5, short
    if abn == "atelectasis":  # volume loss: the diaphragm on that side rises
        lung_key = f"lung_{side}"
        assert study.tissues[lung_key].sum() < normal.tissues[lung_key].sum()
    if abn == "nodule":
        diameter = 2 * (3 * mask.sum() * np.prod(study.volume.spacing) / (4 * np.pi)) ** (1 / 3)
        assert 3 <= diameter <= 32


def test_several_findings_per_study() -> None:
    study = make_phantom(3, findings=["nodule", "pleural_effusion", "emphysema", "cardiomegaly"])
    assert len(study.true_findings) == 4 and all(m.any() for m in study.masks.values())


def test_make_phantom_is_deterministic() -> None:
    a, b = make_phantom(5), make_phantom(5)
    assert np.array_equal(a.volume.array, b.volume.array)
    assert a.true_findings == b.true_findings
    assert all(np.array_equal(a.masks[k], b.masks[k]) for k in a.masks)
    assert not np.array_equal(a.volume.array, make_phantom(6).volume.array)


def test_sites_differ_measurably() -> None:
    stats = {}
    for site in SITES[:3]:
        s = make_phantom(SEED, findings=[], site=site.name)
        liver = _erode(s.tissues["liver"], 2)
        stats[site.name] = (
            s.volume.shape[0],
            s.volume.array[liver].std(),
            s.volume.array[liver].mean() - s.clean[liver].mean(),
        )
    slices = {v[0] for v in stats.values()}
    assert len(slices) == 3  # slice thickness differs
    noise = sorted(v[1] for v in stats.values())
    assert noise[-1] > 1.5 * noise[0]  # noise differs
    assert stats["site_c"][2] - stats["site_b"][2] > 15  # HU offset differs


def test_breathing_motion_smears_small_objects() -> None:
    img = np.full((12, 40, 40), -900.0, dtype=np.float32)
    img[6, 20, 20] = 40.0  # a one-voxel "nodule"
    still = breathing(img, 0.0, (3.5, 5.0), np.random.default_rng(0))
    assert np.array_equal(still, img)
    moved = breathing(img, 6.0, (3.5, 5.0), np.random.default_rng(0))
    assert moved[6, 20, 20] < 40.0 - 100  # fainter
    assert moved.sum() == pytest.approx(img.sum(), rel=1e-4)  # blurred, not lost
    assert np.allclose(moved[:, :, :10], -900.0)  # only along y and z: columns stay apart
    assert sorted(s.motion_mm for s in SITES) != [0.0] * len(SITES)  # sites differ


def test_larger_and_coarser_grids_on_request() -> None:
    small, large = make_phantom(2, shape=(32, 48, 48)), make_phantom(2, shape=(80, 128, 128))
    assert small.volume.shape == (32, 48, 48) and large.volume.shape == (80, 128, 128)
    assert small.true_findings == large.true_findings
    for study in (small, large):
        assert all(m.any() for m in study.masks.values())
        lung = study.tissues["lung_right"] | study.tissues["lung_left"]
        assert -900 < study.clean[_erode(lung)].mean() < -750  # coarse grids average vessels in
        assert study.lobes.shape == study.volume.shape == study.tissues["heart"].shape


def test_bad_requests_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="did you mean 'nodule'"):
        make_phantom(0, findings=["nodul"])
    with pytest.raises(ConfigError, match="cannot be placed at 'heart'"):
        make_phantom(0, findings=[("nodule", "heart")])
    with pytest.raises(ConfigError, match="did you mean 'site_a'"):
        get_site("site_aa")


def test_package_exports_its_public_api() -> None:
    import radlens.phantom as phantom

    missing = [name for name in phantom.__all__ if not hasattr(phantom, name)]
    assert missing == []
    assert phantom.make_phantom is make_phantom and phantom.SITES is SITES


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (((64, 96, 96), (4.375, 3.5, 3.5)), ((43, 96, 96), (6.5, 3.5, 3.5))),  # site slices
        (((40, 50, 60), (2.0, 3.0, 3.0)), ((30, 37, 45), (2.7, 4.0, 4.0))),  # every axis
    ],
)
@pytest.mark.parametrize("order", [0, 1])
def test_resample_matches_scipy_affine_transform(src, dst, order):
    from radlens.phantom.geometry import Grid
    from radlens.phantom.render import _resample

    src, dst = Grid(*src), Grid(*dst)
    rng = np.random.default_rng(3)
    arr = (
        (rng.random(src.shape) * 6).astype(np.uint8)
        if order == 0
        else rng.normal(size=src.shape).astype(np.float32)
    )
    scale = np.array(dst.spacing) / np.array(src.spacing)
    offset = (np.array(src.shape) - 1) / 2 - scale * (np.array(dst.shape) - 1) / 2
    data = arr if order == 0 else ndi.gaussian_filter(arr, sigma=np.maximum(scale - 1, 0) * 0.45)
    want = ndi.affine_transform(
        data, scale, offset=offset, output_shape=dst.shape, order=order, mode="nearest"
    )
    got = _resample(arr, src, dst, order)
    assert got.shape == dst.shape and got.dtype == arr.dtype
    np.testing.assert_allclose(got, want, atol=1e-5)
    with pytest.raises(ValueError, match="order must be 0"):
        _resample(arr, src, dst, 3)
