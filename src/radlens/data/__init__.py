"""Images to tensors: patient-level splits and leakage checks, downloads, the cohort-table
format and the chest-CT cohort loader. Sub-packages: `medmnist`, `radiographs`, `volumes`."""

from radlens.data.arrays import TASK_TYPES, ArrayDataset
from radlens.data.cohort_table import (
    IMAGE_COLUMNS,
    LOCATION_SEP,
    TRUTH_PREFIX,
    load_masks,
    read_cohort,
)
from radlens.data.ct_cohort import DEMO_WINDOWS, CtCohort, load_ct_cohort
from radlens.data.ct_volumes import cohort_extents, study_extents
from radlens.data.splits import (
    check_no_patient_leakage,
    find_near_duplicates,
    image_hash,
    image_hashes,
    normalise_patient_id,
    normalise_patient_ids,
    short_hash,
)

__all__ = [
    "DEMO_WINDOWS",
    "IMAGE_COLUMNS",
    "LOCATION_SEP",
    "TASK_TYPES",
    "TRUTH_PREFIX",
    "ArrayDataset",
    "CtCohort",
    "check_no_patient_leakage",
    "cohort_extents",
    "find_near_duplicates",
    "image_hash",
    "image_hashes",
    "load_ct_cohort",
    "load_masks",
    "normalise_patient_id",
    "normalise_patient_ids",
    "read_cohort",
    "short_hash",
    "study_extents",
]
