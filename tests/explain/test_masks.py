"""Phantom masks land on the model's input grid exactly where the cropped volumes put the lesion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radlens.core import read_plan
from radlens.data import CtCohort, load_ct_cohort, load_masks
from radlens.data.arrays import ArrayDataset
from radlens.data.volumes import load_volume, volume_extent
from radlens.data.volumes.preprocess import preprocess_volume
from radlens.data.volumes.volume import Volume
from radlens.errors import ConfigError, DataError
from radlens.explain.cohort import body_from_inputs, localize_run
from radlens.explain.localization import chance_hit_rate
from radlens.explain.masks import resized_mask, study_fovs
from radlens.phantom import FOV_MM, SITES, Grid, synthesize_cohort
from radlens.training.config import make_config
from radlens.training.loop import train

NATIVE = (64, 96, 96)
GRID = (32, 64, 64)  # the whole field of view, resampled
CROP = (32, 48, 64)  # the centred crop the model sees


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def _lesion(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A ball off the centre (anterior, left, upper), as mask file and as its HU volume."""
    z, y, x = np.ogrid[: NATIVE[0], : NATIVE[1], : NATIVE[2]]
    mask = (z - 44) ** 2 + ((y - 20) / 1.5) ** 2 + ((x - 66) / 1.5) ** 2 <= 16
    path = tmp_path / "masks.npz"
    np.savez_compressed(path, **{"nodule@left_upper_lobe": mask})
    grid = Grid.covering(NATIVE)
    volume = Volume(np.where(mask, 1000.0, -1000.0), grid.spacing, grid.origin, np.eye(3))
    spacing = tuple(f / g for f, g in zip(FOV_MM, GRID, strict=True))
    image = preprocess_volume(volume, target_spacing=spacing, window=(-1000, 1000), shape=CROP)
    return path, image[0] >= 0.5


def test_mask_follows_the_crop(tmp_path: Path) -> None:
    path, seen = _lesion(tmp_path)
    spacing = tuple(f / g for f, g in zip(FOV_MM, GRID, strict=True))
    mask = resized_mask(str(path), "nodule", CROP, spacing, FOV_MM)
    assert mask is not None and mask.shape == CROP and seen.any()
    assert _iou(mask, seen) > 0.6
    # resizing the whole field of view to the crop's shape would put it elsewhere
    squeezed = resized_mask(str(path), "nodule", CROP)
    assert squeezed is not None and _iou(squeezed, seen) < 0.3


def test_spacing_and_field_of_view_go_together(tmp_path: Path) -> None:
    """Without a crop the resampled mask and the whole mask resized to the grid agree to within
    a voxel (the volumes' resampling puts the grid on the first voxel's centre, not its corner,
    so they no longer agree voxel for voxel)."""
    path, _ = _lesion(tmp_path)
    spacing = tuple(f / g for f, g in zip(FOV_MM, GRID, strict=True))
    a = resized_mask(str(path), "nodule", GRID, spacing, FOV_MM)
    b = resized_mask(str(path), "nodule", GRID)
    assert a is not None and b is not None and a.shape == b.shape == GRID
    assert np.abs(np.argwhere(a).mean(axis=0) - np.argwhere(b).mean(axis=0)).max() < 1.0
    assert resized_mask(str(path), "mass", GRID, spacing, FOV_MM) is None
    with pytest.raises(ConfigError, match="go together"):
        resized_mask(str(path), "nodule", GRID, spacing)
    with pytest.raises(ConfigError, match=r"field of view \(320.0, 0.0, 336.0\)"):
        resized_mask(str(path), "nodule", GRID, spacing, (320.0, 0.0, 336.0))


# A cohort of every site: their slice spacings give z extents of 320, 325 and 330 mm on this
# grid. The run resamples to 5 mm slices and crops in-plane, as the demo does.
SYNTH = (16, 32, 32)
SPACING = (5.0, 10.5, 10.5)
INPUT = (56, 24, 32)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    synthesize_cohort(
        out, n_patients=8, seed=3, shape=SYNTH, sites=len(SITES), formats=("nifti",), progress=False
    )
    return out


@pytest.fixture(scope="module")
def loaded(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> CtCohort:
    return load_ct_cohort(
        cohort, shape=INPUT, target_spacing=SPACING, cache_dir=tmp_path_factory.mktemp("cache"),
        min_location_positives=1, progress=False,
    )  # fmt: skip


def _abnormality_masks(mask_path: str) -> dict[str, np.ndarray]:
    """The union of each abnormality's masks (all locations), as `resized_mask` takes them."""
    out: dict[str, np.ndarray] = {}
    for key, mask in load_masks(mask_path).items():
        if key != "lobes":
            name = key.split("@")[0]
            out[name] = out.get(name, np.zeros(mask.shape, bool)) | mask
    return out


@pytest.mark.slow
def test_cohort_masks_line_up_with_their_volumes(loaded: CtCohort) -> None:
    """Resampled over its own study's field of view (load_ct_cohort's extra "fov_mm", the
    volume's extent from its header), each mask covers the voxels its lesion covers in the
    volume prepared by `preprocess_volume`, also on sites whose z extent is not FOV_MM's."""
    ds, extents = loaded.dataset, set()
    for split in ds.splits:
        fovs = ds.extra["fov_mm"][split]
        assert fovs.shape == (ds.size(split), 3) and fovs.dtype == np.float64
        for row, index in enumerate(ds.extra["row_index"][split]):
            nifti, fov = loaded.table["nifti_path"].iloc[index], fovs[row]
            assert tuple(fov) == volume_extent(nifti) and tuple(fov[1:]) == FOV_MM[1:]
            volume, path = load_volume(nifti), ds.extra["mask_path"][split][row]
            geometry = (volume.spacing, volume.origin, volume.direction)
            for name, lesion in _abnormality_masks(path).items():
                hu = Volume(np.where(lesion, 1000.0, -1000.0), *geometry)  # the volume's grid
                cropped = preprocess_volume(
                    hu, target_spacing=SPACING, window=(-1000, 1000), shape=INPUT
                )[0]
                mask = resized_mask(path, name, INPUT, SPACING, fov)
                if mask is None:  # a lesion under a quarter of every resampled voxel
                    assert not (cropped >= 0.25).any()
                    continue
                assert _iou(mask, cropped >= 0.25) > 0.99, (split, row, name)
                extents.add(float(fov[0]))
    assert {320.0, 325.0, 330.0} <= extents


def test_study_fovs_from_the_extra_or_the_cohort_table(loaded: CtCohort, cohort: Path) -> None:
    """A dataset without extra["fov_mm"] gets each study's extent from its image header, found
    by study id in the cohort table; without either there is none."""
    ds = loaded.dataset
    split = ds.splits[0]
    np.testing.assert_array_equal(study_fovs(ds, split), ds.extra["fov_mm"][split])
    bare = ArrayDataset(**{**ds.__dict__, "extra": {}})
    assert study_fovs(bare, split) is None
    np.testing.assert_array_equal(study_fovs(bare, split, cohort), ds.extra["fov_mm"][split])
    ids = {**ds.ids, split: np.array(["nobody"] * ds.size(split))}
    stranger = ArrayDataset(**{**bare.__dict__, "ids": ids})
    with pytest.raises(DataError, match="has no study 'nobody'"):
        study_fovs(stranger, split, cohort)


@pytest.fixture(scope="module")
def cropped_run(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-epoch run on the cohort, resampled to SPACING and cropped to INPUT."""
    out = tmp_path_factory.mktemp("cropped_run")
    config = make_config(
        {
            "cohort": str(cohort),
            "cohort_shape": INPUT,
            "cohort_spacing": SPACING,
            "cohort_min_location_positives": 1,
            "cohort_cache": str(out / "cache"),
            "model": "ctnet_3d",
            "epochs": 1,
            "batch_size": 4,
            "eval_batch_size": 8,
            "device": "cpu",
            "precision": "32-true",
            "channels_last": False,
            "threads": 1,
            "out": str(out / "run"),
        }
    )
    train(config, progress=False)
    return out / "run"


@pytest.mark.slow
def test_localize_run_on_a_cropped_run_uses_each_study_fov(
    cropped_run: Path, loaded: CtCohort
) -> None:
    """`localize_run` (what benchmarks/explain_localization.py prints) reloads the cohort and
    scores each case against its mask resampled over that study's field of view: the chance
    rate of every case is the one of that mask, not of the whole mask squeezed into the input."""
    plan = read_plan(cropped_run)
    assert plan.shape == INPUT and plan.spacing_mm == SPACING
    result = localize_run(cropped_run, split="train", tolerance=1, progress=False)
    ds = loaded.dataset
    row_of = {str(i): r for r, i in enumerate(ds.ids["train"])}
    fovs = ds.extra["fov_mm"]["train"]
    squeezed_differs = False
    assert len(result.cases) >= 10
    for case in result.cases.itertuples():
        row = row_of[case.id]
        path = ds.extra["mask_path"]["train"][row]
        body = body_from_inputs(ds.images["train"][row], plan.windows_hu)
        mask = resized_mask(path, case.group, INPUT, SPACING, fovs[row])
        assert case.chance == pytest.approx(chance_hit_rate(mask, region=body, tolerance=1))
        squeezed = resized_mask(path, case.group, INPUT)
        wrong = chance_hit_rate(squeezed, region=body, tolerance=1) if squeezed is not None else -1
        squeezed_differs |= wrong != pytest.approx(case.chance)
    assert squeezed_differs
    assert {float(f[0]) for f in fovs} >= {320.0, 325.0, 330.0}
