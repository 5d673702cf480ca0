"""Grad-CAM on the synthetic chest-CT cohort points at the true lesion more often than chance.

The CPU demo's 3D CNN ("ctnet_3d") is trained with radlens's own loop (`TrainConfig` +
`radlens.training.loop.train`) on phantom chest CTs (`radlens.phantom`) holding pleural
effusions and consolidations, then `radlens.explain.compute_cam` maps held-out positive studies
and the pointing game is scored against the phantom's lesion masks (`radlens.explain.
localization`). Chance is the hit rate of a point drawn uniformly inside the patient's body at
the same tolerance; a one-sided binomial test must reject it. The known pitfalls (MONAI's default
normaliser inverting the map, a map on swapped or mirrored axes) go through the same scoring and
must not beat chance.
"""

from __future__ import annotations

import copy
import os

import numpy as np
import pandas as pd
import pytest
import torch
from monai.visualize import GradCAM

from radlens.data.arrays import ArrayDataset
from radlens.data.ct_cohort import CT_WINDOWS
from radlens.explain import (
    MAX_STRIDE_3D,
    compute_cam,
    find_target_layer,
    probe_layers,
    select_layer,
)
from radlens.explain.cohort import localize_run
from radlens.explain.localization import (
    body_region,
    chance_hit_rate,
    localization_table,
    masks_by_abnormality,
)
from radlens.models.factory import build_model
from radlens.phantom import LOCATIONS, FindingSpec, Grid, Habitus, render_study
from radlens.training.config import make_config
from radlens.training.device import images_to_tensor, normalise
from radlens.training.loop import train
from radlens.training.run import load_run

SHAPE = (24, 40, 40)  # (Z, Y, X): 10 x 8.4 x 8.4 mm voxels over the phantom field of view
LABELS = ("pleural_effusion", "consolidation")
SIZES = {"pleural_effusion": (35.0, 50.0), "consolidation": (0.7, 0.9)}  # depth mm, lobe share
N_TRAIN, N_VAL, N_TEST = 64, 12, 32
TOLERANCE = 2  # voxels (Chebyshev), for the hits and for chance alike
MIN_HIT_RATE = 0.4  # pooled over both abnormalities (0.44-0.8 seen over seeds 0-2)
MODEL = "ctnet_3d"
# the cohort and training seed; the test passes for other seeds too (checked with 0, 1, 2)
SEED = int(os.environ.get("RADLENS_LOCALIZATION_SEED", "0"))


def _window(hu: np.ndarray) -> np.ndarray:
    """(C, Z, Y, X) uint8, one channel per HU window, as `radlens.data.ct_cohort` stores them."""
    out = [np.clip((hu - lo) / (hi - lo), 0.0, 1.0) for lo, hi in CT_WINDOWS]
    return np.round(np.stack(out) * 255.0).astype(np.uint8)


def _cohort(n: int, rng: np.random.Generator):
    """n phantom studies; each of LABELS present with probability 1/2 at a random location.
    Returns images (n, C, Z, Y, X) uint8, labels (n, L), per-study masks and body regions."""
    images = np.zeros((n, len(CT_WINDOWS), *SHAPE), dtype=np.uint8)
    labels = np.zeros((n, len(LABELS)), dtype=np.float32)
    masks, bodies = [], []
    for i in range(n):
        specs = []
        for j, abnormality in enumerate(LABELS):
            if rng.random() < 0.5:
                options = [loc for loc in LOCATIONS[abnormality] if loc != "lingula"]
                location = str(rng.choice(options))
                size = float(rng.uniform(*SIZES[abnormality]))
                specs.append(FindingSpec(abnormality, location, size, int(rng.integers(2**31))))
                labels[i, j] = 1.0
        study = render_study(
            Habitus.sample(rng), specs, "site_a", shape=SHAPE, noise_seed=int(rng.integers(2**31))
        )
        images[i] = _window(study.volume.array)
        masks.append(masks_by_abnormality(study.masks))
        bodies.append(body_region(study.volume.array))
    return images, labels, masks, bodies


@pytest.fixture(scope="module")
def localized(tmp_path_factory: pytest.TempPathFactory):
    """Train on the cohort, then Grad-CAM every held-out positive (study, abnormality) pair."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rng = np.random.default_rng(SEED)
        images, labels, masks, bodies = _cohort(N_TRAIN + N_VAL + N_TEST, rng)
        cut = {"train": (0, N_TRAIN), "val": (N_TRAIN, N_TRAIN + N_VAL)}
        cut["test"] = (N_TRAIN + N_VAL, len(images))
        ids = {s: np.array([f"{s}-{i:03d}" for i in range(b - a)]) for s, (a, b) in cut.items()}
        dataset = ArrayDataset(
            name="phantom_localization",
            task="multi-label",
            label_names=LABELS,
            images={s: images[a:b] for s, (a, b) in cut.items()},
            labels={s: labels[a:b] for s, (a, b) in cut.items()},
            ids=ids,
            patient_ids=ids,
            n_channels=len(CT_WINDOWS),
            spatial_dims=3,
            official=False,
            source="radlens phantoms (test)",
            # how the volumes were made: the run's plan records it, `localize_run` reads it
            extra={
                "windows": [list(w) for w in CT_WINDOWS],
                "spacing": Grid.covering(SHAPE).spacing,
            },
        )
        run_dir = tmp_path_factory.mktemp("cohort_cam") / "run"
        config = make_config(
            {
                "dataset": "phantom_localization",
                "model": MODEL,
                "epochs": 8,
                "batch_size": 8,
                "eval_batch_size": 16,
                "lr": 2e-3,
                "milestones": (0.75,),
                "seed": SEED,
                "device": "cpu",
                "precision": "32-true",
                "channels_last": False,
                "threads": 1,
                "out": str(run_dir),
            }
        )
        result = train(config, dataset=dataset, progress=False)
        model = load_run(run_dir).model
        start = cut["test"][0]
        x = normalise(images_to_tensor(images[start:], n_channels=len(CT_WINDOWS), spatial_dims=3))
        cases, maps = [], []
        for j, abnormality in enumerate(LABELS):
            rows = np.flatnonzero(labels[start:, j] == 1)
            cam = compute_cam(model, x[rows], class_idx=j)
            maps.extend(cam.maps)
            cases.extend((int(r), j, abnormality) for r in rows)
        # the test split as a cohort dataset with ground truth, for `localize_run`
        folder = run_dir.parent / "masks"
        folder.mkdir()
        mask_paths = []
        for r in range(len(images) - start):
            path = folder / f"study{r:03d}.npz"
            np.savez_compressed(path, **{f"{a}@any": m for a, m in masks[start + r].items()})
            mask_paths.append(str(path))
        cohort = ArrayDataset(
            name="phantom_localization",
            task="multi-label",
            label_names=LABELS,
            images={"test": images[start:]},
            labels={"test": labels[start:]},
            ids={"test": ids["test"]},
            patient_ids={"test": ids["test"]},
            n_channels=len(CT_WINDOWS),
            spatial_dims=3,
            official=False,
            source="radlens phantoms (test)",
            extra={
                "mask_path": {"test": np.array(mask_paths)},
                "true_labels": {"test": labels[start:]},
                "truth_names": LABELS,
                "windows": [list(w) for w in CT_WINDOWS],
            },
        )
        yield {
            "run_dir": run_dir,
            "cohort": cohort,
            "model": model,
            "x": x,
            "layer": cam.layer,
            "maps": np.stack(maps),
            "masks": [masks[start + r][a] for r, _, a in cases],
            "regions": [bodies[start + r] for r, _, _ in cases],
            "groups": [a for _, _, a in cases],
            "rows": np.array([r for r, _, _ in cases]),
            "class_idx": np.array([j for _, j, _ in cases]),
            "test_auc": result.metrics["splits"]["test"]["auc_per_label"],
        }
    finally:
        torch.set_num_threads(threads)


def _table(maps: np.ndarray, localized: dict) -> pd.DataFrame:
    table = localization_table(
        list(maps),
        localized["masks"],
        localized["groups"],
        tolerance=TOLERANCE,
        regions=localized["regions"],
    )
    return table.set_index("group")


@pytest.mark.slow
def test_heatmaps_hit_the_lesion_more_often_than_chance(localized) -> None:
    assert localized["test_auc"]["pleural_effusion"] > 0.9  # the model learned the finding
    table = _table(localized["maps"], localized)
    print(f"seed {SEED}, layer {localized['layer']}, AUROC {localized['test_auc']}")
    print(table.round(4).to_string())
    for group in (*LABELS, "all"):
        row = table.loc[group]
        assert row["n"] >= 10
        assert row["chance"] < 0.2
        assert row["pointing_game"] >= 2 * row["chance"], (group, row.to_dict())
        assert row["p_value"] < 0.05, (group, row.to_dict())
    pooled = table.loc["all"]
    assert pooled["pointing_game"] >= MIN_HIT_RATE, pooled.to_dict()
    assert pooled["pointing_game"] >= 3 * pooled["chance"], pooled.to_dict()
    assert pooled["p_value"] < 1e-4, pooled.to_dict()


@pytest.mark.slow
def test_inverted_and_misaligned_maps_fall_to_chance(localized) -> None:
    """The same scoring fails MONAI's default (inverting) normaliser, 1 - map, and maps on wrong
    axes: mirrored left-right, both in-plane axes reversed (LPS read as RAS). (Swapped axes, z<->x
    or rows<->columns, are not reliably caught on these lesions: effusions span most of z and
    wrap round the back towards the spine, so a swapped peak still lands in them 15-50% of the
    time, seeds 0-2.)"""
    good = _table(localized["maps"], localized).loc["all"]
    maps = localized["maps"]
    # MONAI's stock GradCAM at the same layer, default postprocessing: (min, max) -> (1, 0).
    # A deep copy: its hooks are never removed from the model they are put on.
    stock = GradCAM(nn_module=copy.deepcopy(localized["model"]), target_layers=localized["layer"])
    x = localized["x"][localized["rows"]]
    monai_maps = np.concatenate(
        [
            stock(x=x[i : i + 1], class_idx=int(c))[:, 0].detach().numpy()
            for i, c in enumerate(localized["class_idx"])
        ]
    )
    controls = {
        "1 - map": 1.0 - maps,
        "MONAI default normaliser": monai_maps,
        "mirrored left-right": np.ascontiguousarray(maps[..., ::-1]),
        # LPS arrays read as RAS: rows (anterior -> posterior) and columns both reversed
        "y and x reversed": np.ascontiguousarray(maps[..., ::-1, ::-1]),
    }
    above_chance = []
    for name, control in controls.items():
        row = _table(control, localized).loc["all"]
        print(f"{name}: {row.round(4).to_dict()}")
        below = row["pointing_game"] <= max(row["chance"], 0.5 * good["pointing_game"])
        if row["p_value"] <= 0.05 or not below:
            above_chance.append((name, row.round(4).to_dict()))
    assert not above_chance


@pytest.mark.slow
def test_localize_run_agrees_with_the_table(localized) -> None:
    """`localize_run` (what benchmarks/explain_localization.py prints for a demo run) reloads the
    run and scores the same cases: same hits, chance within the body rebuilt from the inputs."""
    result = localize_run(
        localized["run_dir"], dataset=localized["cohort"], tolerance=TOLERANCE, progress=False
    )
    table = result.table.set_index("group")
    expected = _table(localized["maps"], localized)
    assert result.layer == localized["layer"]
    for group in (*LABELS, "all"):
        assert table.loc[group, "n"] == expected.loc[group, "n"]
        assert table.loc[group, "hits"] == expected.loc[group, "hits"]
        assert table.loc[group, "chance"] == pytest.approx(expected.loc[group, "chance"], rel=0.1)
        assert table.loc[group, "inverted_pointing_game"] <= table.loc[group, "chance"] + 0.1
        assert table.loc[group, "flipped_lr_p_value"] > 0.05
    assert set(result.to_dict()["per_abnormality"]) == {*LABELS, "all"}
    assert result.tolerance == f"{TOLERANCE} voxel"
    assert (table["pointing_game"] >= table["pointing_game_strict"]).all()
    assert (table["chance"] >= table["chance_strict"]).all()
    assert table.loc["all", "perm_p_value"] < 0.05  # peaks are case-specific, not a fixed spot


@pytest.mark.slow
def test_localize_run_tolerance_in_mm(localized) -> None:
    """A tolerance in mm uses the plan's spacing: 0 mm is the strict game, and the strict
    columns do not depend on the tolerance."""
    strict = localize_run(
        localized["run_dir"], dataset=localized["cohort"], tolerance="0mm", progress=False
    ).table.set_index("group")
    wide = localize_run(
        localized["run_dir"], dataset=localized["cohort"], tolerance="20mm", progress=False
    ).table.set_index("group")
    assert (strict["pointing_game"] == strict["pointing_game_strict"]).all()
    assert (wide["pointing_game_strict"] == strict["pointing_game_strict"]).all()
    assert (wide["pointing_game"] >= strict["pointing_game"]).all()
    assert (wide["chance"] > strict["chance"]).all()


def test_3d_layer_choice_keeps_a_localizable_grid() -> None:
    """Regression: on the CPU demo's 3D CNN the last block is 4x4x4 for a 32x64x64 volume (stride
    16 in-plane; its maps never hit a pleural effusion); the automatic choice takes the last
    layer within stride 8, and `max_stride_3d=None` restores the plain last layer."""
    model = build_model("ctnet_3d", spatial_dims=3, in_channels=2, num_outputs=3)
    x = torch.rand(1, 2, 32, 64, 64)
    layers = probe_layers(model, x)
    shapes = {info.name: info.output_shape for info in layers}
    chosen = find_target_layer(model, x)
    size = x.shape[2:]
    assert all(o * MAX_STRIDE_3D >= s for o, s in zip(shapes[chosen][2:], size, strict=True))
    plain = select_layer(layers, tuple(x.shape), max_stride_3d=None)
    if plain != chosen:  # the final block is coarser than stride 8
        assert any(o * MAX_STRIDE_3D < s for o, s in zip(shapes[plain][2:], size, strict=True))
    assert compute_cam(model, x, class_idx=0).layer == chosen
    # 2D models are not affected: ResNet-18 keeps layer4
    net2d = build_model("resnet18", spatial_dims=2, in_channels=1, num_outputs=2)
    assert find_target_layer(net2d, torch.rand(1, 1, 64, 64)) == "layer4"


def test_chance_counts_the_tolerance_and_the_region() -> None:
    """Chance is the hit rate of a random point in the region with the same tolerance as hits."""
    mask = np.zeros((10, 10, 10), dtype=bool)
    mask[4:6, 4:6, 4:6] = True
    assert chance_hit_rate(mask) == pytest.approx(8 / 1000)
    assert chance_hit_rate(mask, tolerance=1) == pytest.approx(64 / 1000)
    region = np.zeros_like(mask)
    region[2:8, 2:8, 2:8] = True
    assert chance_hit_rate(mask, region=region, tolerance=1) == pytest.approx(64 / 216)
    hu = np.full((4, 20, 20), -1000.0, dtype=np.float32)
    hu[:, 3:17, 3:17] = 40.0  # body
    hu[:, 6:14, 6:14] = -850.0  # lungs inside it
    body = body_region(hu)
    assert body[:, 3:17, 3:17].all() and body.sum() == 4 * 14 * 14
