"""The 18 MedMNIST v2 datasets: the official catalogue (URLs, MD5s, labels) and the npz loader."""

from radlens.data.medmnist.catalogue import dataset_names
from radlens.data.medmnist.load import (
    catalogue_table,
    fetch_medmnist,
    get_info,
    info_table,
    load_medmnist,
    paper_results,
    resolve_data_dir,
)

__all__ = [
    "catalogue_table",
    "dataset_names",
    "fetch_medmnist",
    "get_info",
    "info_table",
    "load_medmnist",
    "paper_results",
    "resolve_data_dir",
]
