"""2D images: decoding PNG/JPEG/DICOM radiographs, image folders with label CSVs, label parsing."""

from radlens.data.radiographs.folder import load_image_folder

__all__ = [
    "load_image_folder",
]
