"""2D images: decoding PNG/JPEG/DICOM radiographs, image folders with label CSVs, label parsing."""

from radlens.data.radiographs.decode import load_radiograph, read_radiograph, resize_image
from radlens.data.radiographs.folder import load_image_folder

__all__ = [
    "load_image_folder",
    "load_radiograph",
    "read_radiograph",
    "resize_image",
]
