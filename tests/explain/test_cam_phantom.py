"""Explanations on the synthetic chest-CT cohort: map geometry, montages and localization scores
against the phantom's own lesion masks (no training: CPU time is kept for the blob tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _support.explain import tiny_cnn
from scipy import ndimage

from radlens.explain import compute_cam
from radlens.explain.localization import localization_table, masks_by_abnormality
from radlens.explain.overlays import montage_3d, montage_centre
from radlens.explain.run import ExplainCase, render_cases
from radlens.phantom import make_phantom

SHAPE = (20, 36, 44)  # Z != Y != X, and anisotropic spacing from the phantom grid


@pytest.fixture(scope="module")
def study():
    return make_phantom(
        3, findings=[("mass", "right_lower_lobe"), ("pleural_effusion", "left_pleura")], shape=SHAPE
    )


def _window(hu: np.ndarray) -> np.ndarray:
    return np.clip((hu + 1000.0) / 1400.0, 0.0, 1.0).astype(np.float32)


def test_phantom_masks_merge_per_abnormality(study) -> None:
    merged = masks_by_abnormality({**study.masks, "lobes": study.lobes})
    assert set(merged) == {"mass", "pleural_effusion"}
    assert all(m.shape == SHAPE and m.dtype == bool and m.any() for m in merged.values())


def test_cam_on_phantom_volume_keeps_volume_geometry(study, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = tiny_cnn(3).eval()
    x = _window(study.volume.array)[None, None]
    result = compute_cam(model, x, class_idx=1)
    assert result.maps.shape == (1, *study.volume.array.shape)
    masks = masks_by_abnormality(study.masks)
    paths, index = render_cases(
        model,
        x,
        [study.volume.array],
        [ExplainCase(0, "mass", 1, "phantom-3", 0.8, 1.0)],
        tmp_path,
        masks=[masks["mass"]],
        spacing=study.volume.spacing,
        window=(-1000, 400),
    )
    assert paths[0].is_file() and paths[0].stat().st_size > 5_000
    assert {"pointing_game", "iou", "dice"} <= set(index.columns)


def test_localization_table_on_phantom_masks(study, tmp_path: Path) -> None:
    """A map centred on each lesion scores a hit; the same map inverted, or with its axes
    reversed, misses: the per-abnormality scores tell a right map from a wrong one."""
    masks = masks_by_abnormality(study.masks)
    names = sorted(masks)
    good = [ndimage.gaussian_filter(masks[n].astype(float), 1.5) for n in names]
    good = [g / g.max() for g in good]
    table = localization_table(good, [masks[n] for n in names], names).set_index("group")
    assert (table.loc[names, "pointing_game"] == 1.0).all()
    assert (table.loc[names, "dice"] > table.loc[names, "chance"]).all()
    inverted = localization_table([1 - g for g in good], [masks[n] for n in names], names)
    assert inverted.set_index("group").loc["all", "pointing_game"] == 0.0
    flipped = [g[::-1, ::-1, ::-1] for g in good]
    assert (
        localization_table(flipped, [masks[n] for n in names], names)
        .set_index("group")
        .loc["all", "pointing_game"]
        < 1.0
    )
    centre = montage_centre(good[0], "mask", masks[names[0]])
    assert masks[names[0]][centre]
    path = montage_3d(
        study.volume.array,
        good[0],
        tmp_path / "m.png",
        centre="mask",
        mask=masks[names[0]],
        spacing=study.volume.spacing,
        window=(-1000, 400),
    )
    assert path.is_file()
