"""Training: typed config, the Fabric loop, data sources, run directories (with plan.json),
checkpoints, devices and data-parallel helpers."""

from radlens.training.checkpoints import RunProgress, restore_training_state, save_checkpoints
from radlens.training.config import (
    TrainConfig,
    check_augment,
    check_model_name,
    make_config,
    resolve_config,
)
from radlens.training.device import (
    images_to_tensor,
    inference_device,
    normalise,
    predict_scores,
    subset_indices,
)
from radlens.training.distributed import (
    cluster_geometry,
    end_process_group,
    global_batches,
    rank_share,
)
from radlens.training.label_fraction import LabelSubset, apply_label_fraction, select_label_subset
from radlens.training.loop import TrainResult, train
from radlens.training.nodule_detection import (
    DETECT_SPACING,
    DetectorConfig,
    NoduleDetector,
    StudyCandidates,
    collect_candidates,
    detector_config,
    is_detector_run,
    load_detector,
    mask_lesions,
    train_detector,
)
from radlens.training.precision import (
    bf16_conv_faults,
    bf16_native,
    guard_bf16_convs,
    guard_fabric_run,
    resolve_precision,
)
from radlens.training.run import LoadedRun, load_run, repredict_split
from radlens.training.seg_data import SegCase, SegTable, load_case, load_seg_cases, read_seg_table
from radlens.training.segmentation import (
    SegRun,
    SegTrainResult,
    load_segmentation_run,
    predict_volume,
    train_segmentation,
)
from radlens.training.sources import load_dataset, run_plan
from radlens.training.summary import metrics_table
from radlens.training.survival import (
    SURVIVAL_TASK,
    SurvivalRun,
    SurvivalTrainResult,
    load_survival_run,
    train_survival,
)
from radlens.training.survival_data import CovariateEncoder, read_outcomes
from radlens.training.survival_model import covariate_cox

__all__ = [
    "DETECT_SPACING",
    "SURVIVAL_TASK",
    "CovariateEncoder",
    "DetectorConfig",
    "LabelSubset",
    "LoadedRun",
    "NoduleDetector",
    "RunProgress",
    "SegCase",
    "SegRun",
    "SegTable",
    "SegTrainResult",
    "StudyCandidates",
    "SurvivalRun",
    "SurvivalTrainResult",
    "TrainConfig",
    "TrainResult",
    "apply_label_fraction",
    "bf16_conv_faults",
    "bf16_native",
    "check_augment",
    "check_model_name",
    "cluster_geometry",
    "collect_candidates",
    "covariate_cox",
    "detector_config",
    "end_process_group",
    "global_batches",
    "guard_bf16_convs",
    "guard_fabric_run",
    "images_to_tensor",
    "inference_device",
    "is_detector_run",
    "load_case",
    "load_dataset",
    "load_detector",
    "load_run",
    "load_seg_cases",
    "load_segmentation_run",
    "load_survival_run",
    "make_config",
    "mask_lesions",
    "metrics_table",
    "normalise",
    "predict_scores",
    "predict_volume",
    "rank_share",
    "read_outcomes",
    "read_seg_table",
    "repredict_split",
    "resolve_config",
    "resolve_precision",
    "restore_training_state",
    "run_plan",
    "save_checkpoints",
    "select_label_subset",
    "subset_indices",
    "train",
    "train_detector",
    "train_segmentation",
    "train_survival",
]
