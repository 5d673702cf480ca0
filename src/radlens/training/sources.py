"""The data a run learns from: load what the config names, and record it as the run's plan.

A run's data is a MedMNIST dataset (``--dataset``), a folder of radiographs with a label CSV
(``--images``/``--labels``) or a chest-CT cohort (``--cohort``: reports labelled by the labeler,
volumes resampled, reoriented and centre-cropped by `radlens.data.volumes.preprocess`). A dataset
handed to `radlens.training.loop.train` directly counts as the source its config names when it
is that data, else as "arrays". `run_plan` describes it as a `radlens.core.plan.RunPlan`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from radlens.core import DataSource, RunPlan
from radlens.data import ArrayDataset, load_ct_cohort, read_cohort_manifest
from radlens.data.medmnist import dataset_names, load_medmnist
from radlens.data.radiographs import load_image_folder
from radlens.training.config import TrainConfig
from radlens.training.device import images_to_tensor, intensity_mapping
from radlens.training.label_fraction import apply_label_fraction

__all__ = ["CT_ORIENTATION", "data_source", "load_dataset", "run_plan"]

#: axes of CT cohort arrays: `radlens.data.volumes.preprocess` reorients volumes to (S, P, L)
CT_ORIENTATION = "SPL"


def load_dataset(config: TrainConfig) -> ArrayDataset:
    """The dataset the config names: a MedMNIST dataset, a folder of radiographs or a chest-CT
    cohort (its reports labelled by the labeler, split by patient exactly as in training); with
    ``label_fraction`` < 1, its training split cut to that patient-level label subset."""
    return apply_label_fraction(_load_source(config), config.label_fraction, config.seed)


def _load_source(config: TrainConfig) -> ArrayDataset:
    config.check_source()
    if config.cohort:
        options: dict[str, Any] = {
            "seed": config.seed,
            "shape": config.cohort_shape,
            "min_location_positives": config.cohort_min_location_positives,
            "cache_dir": config.cohort_cache,
            "progress": False,
        }
        if config.cohort_windows is not None:
            options["windows"] = [tuple(w) for w in config.cohort_windows]
        if config.cohort_spacing is not None:
            options["target_spacing"] = config.cohort_spacing
        options.update(_imported_cohort_options(config))
        return load_ct_cohort(config.cohort, **options).dataset
    if config.dataset:
        return load_medmnist(
            config.dataset,
            config.size,
            data_dir=config.data_dir,
            data_file=config.data_file,
            verify=config.verify,
        )
    return load_image_folder(
        config.images,
        config.labels,
        image_column=config.image_column,
        patient_column=config.patient_column,
        label_columns=config.label_columns,
        label_values=config.label_values,
        size=config.image_size,
        seed=config.seed,
        site_column=config.site_column,
        split_column=config.split_column,
    )


def _imported_cohort_options(config: TrainConfig) -> dict[str, Any]:
    """An imported cohort (`radlens cohort import`, its cohort.json has a schema_version): its
    reports are labelled with the vocabulary it was imported with, and its volume cache is used
    unless --cohort-cache names another."""
    manifest = read_cohort_manifest(config.cohort)  # type: ignore[arg-type]
    if manifest is None:
        return {}
    options: dict[str, Any] = {"vocab": manifest.vocab}
    if config.cohort_cache is None and manifest.volume_cache:
        folder = Path(config.cohort)  # type: ignore[arg-type]
        folder = folder if folder.is_dir() else folder.parent
        options["cache_dir"] = str(folder / manifest.volume_cache)
    return options


def _is_ct_cohort(ds: ArrayDataset) -> bool:
    """Made by `load_ct_cohort`: 3D, with the spacing and HU windows of its arrays."""
    return ds.spatial_dims == 3 and "spacing" in ds.extra and "windows" in ds.extra


def data_source(config: TrainConfig, ds: ArrayDataset, *, given: bool) -> DataSource:
    """Where the run's data came from. `given`: the dataset was handed in rather than loaded;
    it then counts as the config's source only when it is that data, else as "arrays"."""
    if config.cohort and (not given or _is_ct_cohort(ds)):
        return "ct_cohort"
    if config.dataset and (not given or ds.name in dataset_names()):
        return "medmnist"
    if config.images and not given:
        return "image_folder"
    return "arrays"


def run_plan(config: TrainConfig, ds: ArrayDataset, *, given: bool) -> RunPlan:
    """The plan of a run training on `ds`: its source, label space and input preparation."""
    source = data_source(config, ds, given=given)
    first = ds.images["train"][:1]
    shape = images_to_tensor(first, n_channels=ds.n_channels, spatial_dims=ds.spatial_dims).shape
    name = {"ct_cohort": config.cohort, "image_folder": config.images}.get(source) or ds.name
    volume: dict[str, Any] = {}
    if _is_ct_cohort(ds):
        volume = {
            "spacing_mm": tuple(float(v) for v in ds.extra["spacing"]),  # type: ignore[union-attr]
            "windows_hu": tuple(tuple(float(v) for v in w) for w in ds.extra["windows"]),  # type: ignore[union-attr]
            "orientation": CT_ORIENTATION,
            "crop": "center",
        }
    return RunPlan(
        data_source=source,
        dataset=str(name),
        task=ds.task,
        labels=tuple(ds.label_names),
        spatial_dims=ds.spatial_dims,  # type: ignore[arg-type]
        channels=ds.n_channels,
        shape=tuple(int(v) for v in shape[2:]),
        intensity=intensity_mapping(first.dtype),
        **volume,
    )
