"""CT volumes: DICOM series and NIfTI in Hounsfield units, geometry checks, DICOM writing,
resampling, windowing, the preprocessed-volume cache and the chest-CT fitness checks."""

from radlens.data.volumes.fitness import (
    DEFAULT_FITNESS,
    FitnessRules,
    check_fitness,
    fitness_problems,
    load_fitness_rules,
)
from radlens.data.volumes.io import (
    SeriesInfo,
    convert_to_nifti,
    describe_volume,
    list_series,
    load_volume,
    series_geometry,
    volume_extent,
    write_dicom_series,
    write_nifti,
)
from radlens.data.volumes.preprocess import (
    CROP,
    ORIENTATION,
    VolumeCache,
    Window,
    prepare_ct_volume,
    preprocess_volume,
    resolve_window,
    window_channels,
)
from radlens.data.volumes.volume import Volume, check_alignment, standard_extent

__all__ = [
    "CROP",
    "DEFAULT_FITNESS",
    "ORIENTATION",
    "FitnessRules",
    "SeriesInfo",
    "Volume",
    "VolumeCache",
    "Window",
    "check_alignment",
    "check_fitness",
    "convert_to_nifti",
    "describe_volume",
    "fitness_problems",
    "list_series",
    "load_fitness_rules",
    "load_volume",
    "prepare_ct_volume",
    "preprocess_volume",
    "resolve_window",
    "series_geometry",
    "standard_extent",
    "volume_extent",
    "window_channels",
    "write_dicom_series",
    "write_nifti",
]
