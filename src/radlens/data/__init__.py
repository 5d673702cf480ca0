"""Images to tensors: patient-level splits and leakage checks, downloads, the cohort-table
format, its versioned schema, the cohort importer (series choice, fitness checks) and the
chest-CT cohort loader. Sub-packages: `medmnist`, `radiographs`, `volumes`."""

from radlens.data.arrays import TASK_TYPES, ArrayDataset
from radlens.data.cohort_import import ImportColumns, ImportResult, RowProblem, import_cohort
from radlens.data.cohort_schema import (
    COHORT_SCHEMA_VERSION,
    CohortManifest,
    CohortRow,
    cohort_json_schema,
    read_cohort_manifest,
    validate_cohort_rows,
)
from radlens.data.cohort_table import (
    IMAGE_COLUMNS,
    LOCATION_SEP,
    TRUTH_PREFIX,
    cohort_table_path,
    load_masks,
    read_cohort,
)
from radlens.data.ct_cohort import DEMO_WINDOWS, CtCohort, load_ct_cohort
from radlens.data.ct_volumes import cohort_extents, read_npz_volume, study_extents
from radlens.data.duplicates import (
    DuplicatePair,
    describe_images,
    find_split_duplicates,
    grayscale_items,
    match_descriptors,
)
from radlens.data.lung_mask import lung_region
from radlens.data.nodule_candidates import (
    CLIP_HU,
    SCALES_MM,
    BlobCandidates,
    blob_candidates,
    cubes,
)
from radlens.data.nodule_extent import BlobExtent, blob_extent
from radlens.data.plaque_candidates import PEAK_HU, dense_candidates, mediastinal_region
from radlens.data.series_choice import SeriesCandidate, SeriesChoice, choose_series
from radlens.data.splits import (
    assign_splits,
    check_no_patient_leakage,
    find_near_duplicates,
    image_hash,
    image_hashes,
    normalise_patient_id,
    normalise_patient_ids,
    short_hash,
)
from radlens.data.volumes import (
    DEFAULT_FITNESS,
    FitnessRules,
    check_alignment,
    check_fitness,
    fitness_problems,
    load_fitness_rules,
)

__all__ = [
    "CLIP_HU",
    "COHORT_SCHEMA_VERSION",
    "DEFAULT_FITNESS",
    "DEMO_WINDOWS",
    "IMAGE_COLUMNS",
    "LOCATION_SEP",
    "PEAK_HU",
    "SCALES_MM",
    "TASK_TYPES",
    "TRUTH_PREFIX",
    "ArrayDataset",
    "BlobCandidates",
    "BlobExtent",
    "CohortManifest",
    "CohortRow",
    "CtCohort",
    "DuplicatePair",
    "FitnessRules",
    "ImportColumns",
    "ImportResult",
    "RowProblem",
    "SeriesCandidate",
    "SeriesChoice",
    "assign_splits",
    "blob_candidates",
    "blob_extent",
    "check_alignment",
    "check_fitness",
    "check_no_patient_leakage",
    "choose_series",
    "cohort_extents",
    "cohort_json_schema",
    "cohort_table_path",
    "cubes",
    "dense_candidates",
    "describe_images",
    "find_near_duplicates",
    "find_split_duplicates",
    "fitness_problems",
    "grayscale_items",
    "image_hash",
    "image_hashes",
    "import_cohort",
    "load_ct_cohort",
    "load_fitness_rules",
    "load_masks",
    "lung_region",
    "match_descriptors",
    "mediastinal_region",
    "normalise_patient_id",
    "normalise_patient_ids",
    "read_cohort",
    "read_cohort_manifest",
    "read_npz_volume",
    "short_hash",
    "study_extents",
    "validate_cohort_rows",
]
