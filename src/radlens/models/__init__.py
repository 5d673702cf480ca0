"""Networks and tasks: the model factory (one parameter table for 2D/3D ResNet, DenseNet,
2.5D, ACS and CT-Net), and each task's loss, activation and metrics."""

from radlens.models.alignment import (
    CellGrid,
    aligned_upsample,
    chain_grid,
    traced_grid,
    upsample_map,
)
from radlens.models.candidate_net import CandidateNet
from radlens.models.factory import (
    build_model,
    is_segmentation_model,
    resolve_model_name,
    supports_channels_last,
)
from radlens.models.segmentation import SliceWise
from radlens.models.survival import (
    SurvivalNet,
    cox_ph_loss,
    discrete_risk,
    discrete_survival,
    discrete_time_loss,
    discretise_times,
)
from radlens.models.tasks import Task, predictions_to_frame, prevalence

__all__ = [
    "CandidateNet",
    "CellGrid",
    "SliceWise",
    "SurvivalNet",
    "Task",
    "aligned_upsample",
    "build_model",
    "chain_grid",
    "cox_ph_loss",
    "discrete_risk",
    "discrete_survival",
    "discrete_time_loss",
    "discretise_times",
    "is_segmentation_model",
    "predictions_to_frame",
    "prevalence",
    "resolve_model_name",
    "supports_channels_last",
    "traced_grid",
    "upsample_map",
]
