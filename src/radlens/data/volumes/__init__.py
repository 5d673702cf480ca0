"""CT volumes: DICOM series and NIfTI in Hounsfield units, geometry checks, DICOM writing,
resampling, windowing and the preprocessed-volume cache."""

from radlens.data.volumes.io import (
    convert_to_nifti,
    describe_volume,
    list_series,
    load_volume,
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
from radlens.data.volumes.volume import Volume, standard_extent

__all__ = [
    "CROP",
    "ORIENTATION",
    "Volume",
    "VolumeCache",
    "Window",
    "convert_to_nifti",
    "describe_volume",
    "list_series",
    "load_volume",
    "prepare_ct_volume",
    "preprocess_volume",
    "resolve_window",
    "standard_extent",
    "volume_extent",
    "window_channels",
    "write_dicom_series",
    "write_nifti",
]
