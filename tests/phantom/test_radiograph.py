"""DRR: attenuation line integrals, CXR-like contrast, projected masks, determinism, errors."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.errors import ConfigError, DataError
from radlens.phantom import (
    Exposure,
    make_phantom,
    render_radiograph,
    sample_exposure,
)
from radlens.phantom.radiograph import (
    FLOOR_FRACTION,
    MU_WATER,
    attenuation,
    display_floor,
    line_integrals,
)

PLAIN = Exposure(blur_mm=0.0, photons=1e9)  # no rotation, no blur, (almost) no noise


def test_attenuation_and_line_integrals_by_hand() -> None:
    hu = np.array([-1000.0, -1500.0, 0.0, 1000.0])
    assert np.allclose(attenuation(hu), MU_WATER * np.array([0.0, 0.0, 1.0, 2.0]))
    vol = np.zeros((2, 10, 3), dtype=np.float32)  # water, 10 voxels of 2 mm along Y
    vol[1, :5, 2] = 1000.0  # half the ray doubly attenuating
    proj = line_integrals(vol, 2.0)
    assert proj.shape == (2, 3)
    assert np.allclose(proj[0], MU_WATER * 20.0)
    assert np.isclose(proj[1, 2], MU_WATER * (10.0 * 2 + 10.0))


def test_bones_and_mediastinum_brighter_than_lungs() -> None:
    study = make_phantom(1, findings=[], shape=(48, 72, 72))
    tissues = {k: study.tissues[k] for k in ("spine", "heart", "lung_right", "lung_left")}
    rad = render_radiograph(study.volume.array, study.volume.spacing, exposure=PLAIN,
                            masks=tissues)  # fmt: skip
    m = rad.masks
    lungs = (m["lung_right"] | m["lung_left"]) & ~m["spine"] & ~m["heart"]
    lung = float(rad.image[lungs].mean())
    assert float(rad.image[m["spine"]].mean()) > lung + 0.3  # lungs dark, bones white (a CXR)
    assert lung < 0.55
    assert float(rad.image[m["heart"] & ~m["lung_right"] & ~m["lung_left"]].mean()) > lung + 0.1
    # outside the body (air) is darkest: the image's corners
    assert float(rad.image[:8, :8].mean()) < lung
    # PA convention: the heart (patient left) lies mostly on the viewer's right
    cols = np.nonzero(m["heart"])[1]
    assert cols.mean() > rad.image.shape[1] / 2


def _box_volume() -> tuple[np.ndarray, np.ndarray]:
    vol = np.full((20, 10, 30), -1000.0, dtype=np.float32)
    vol[:, 2:8, 3:27] = 0.0  # a water slab
    mask = np.zeros(vol.shape, dtype=bool)
    mask[2:6, 4:6, 10:15] = True  # inferior, patient right (low x)
    vol[mask] = 1500.0
    return vol, mask


def test_projected_mask_lies_where_the_lesion_projects() -> None:
    vol, mask = _box_volume()
    # spacing z 2 mm, x 2 mm: field of view 60 mm over 60 pixels -> 1 mm pixels
    rad = render_radiograph(vol, (2.0, 1.0, 2.0), size=60, exposure=PLAIN, masks={"m": mask})
    assert rad.pixel_mm == pytest.approx(1.0)
    rows, cols = np.nonzero(rad.masks["m"])
    # slices 2..5 (centres 2, 3, 4, 5) from the bottom: flipped rows 14..17 -> pixels 38.5..44.5
    assert rows.mean() == pytest.approx(41.5, abs=1.0)
    # columns 10..14 -> pixels 20.5..28.5 (viewer's left = patient right)
    assert cols.mean() == pytest.approx(24.5, abs=1.0)
    assert rows.min() >= 36 and rows.max() <= 47
    inside, outside = rad.image[rad.masks["m"]], rad.image[40:44, 32:40]
    assert inside.mean() > outside.mean() + 0.05  # dense lesion is brighter than water


def test_rotation_moves_the_mask_and_any_voxel_on_the_ray_counts() -> None:
    vol, mask = _box_volume()
    thin = np.zeros_like(mask)
    thin[10, 5, 15] = True  # one voxel: its ray is one pixel column of the projection
    rot = Exposure(blur_mm=0.0, photons=1e9, rotation_deg=10.0)
    a = render_radiograph(
        vol, (2.0, 1.0, 2.0), size=60, exposure=PLAIN, masks={"m": mask, "t": thin}
    )
    b = render_radiograph(vol, (2.0, 1.0, 2.0), size=60, exposure=rot, masks={"m": mask})
    assert a.masks["t"].any()
    assert not np.array_equal(a.masks["m"], b.masks["m"])


def test_same_seed_same_radiograph() -> None:
    study = make_phantom(2, shape=(32, 48, 48))
    vol = study.volume
    exp1 = sample_exposure("site_b", np.random.default_rng(3))
    assert exp1 == sample_exposure("site_b", np.random.default_rng(3))
    a = render_radiograph(vol.array, vol.spacing, exposure=exp1, seed=5, masks=study.masks)
    b = render_radiograph(vol.array, vol.spacing, exposure=exp1, seed=5, masks=study.masks)
    c = render_radiograph(vol.array, vol.spacing, exposure=exp1, seed=6)
    assert np.array_equal(a.image, b.image)
    assert a.masks.keys() == b.masks.keys() == study.masks.keys()
    assert all(np.array_equal(a.masks[k], b.masks[k]) for k in a.masks)
    assert not np.array_equal(a.image, c.image)  # quantum noise follows the seed
    assert a.image.shape == (256, 256) and a.to_uint8().dtype == np.uint8
    assert render_radiograph(vol.array, vol.spacing, size=320).image.shape == (320, 320)


def test_sites_differ_and_bad_input_is_named() -> None:
    rng = np.random.default_rng(0)
    assert sample_exposure("site_b", rng).gamma != sample_exposure("site_c", rng).gamma
    assert sample_exposure("unknown_site", rng).photons > 0  # default base
    with pytest.raises(DataError, match="expected \\(Z, Y, X\\)"):
        render_radiograph(np.zeros((4, 4)), (1.0, 1.0, 1.0))
    with pytest.raises(DataError, match="spacing"):
        render_radiograph(np.zeros((4, 4, 4)), (1.0, 0.0, 1.0))
    with pytest.raises(ConfigError, match="radiograph size 8"):
        render_radiograph(np.zeros((4, 4, 4)), (1.0, 1.0, 1.0), size=8)
    with pytest.raises(ConfigError, match=r"Exposure\.gamma"):
        Exposure(gamma=0.0)


def test_display_floor_is_a_fraction_of_the_body_median() -> None:
    p = np.array([[0.0, 0.1, 1.0], [2.0, 3.0, 0.2]])
    assert np.isclose(display_floor(p), FLOOR_FRACTION * 2.0)  # body: 1, 2, 3
    assert display_floor(np.zeros((4, 4))) == 0.0
