"""Explanations: Grad-CAM / Grad-CAM++ heatmaps (2D and 3D), overlays, localization scores.

`cam` computes maps, `overlays` draws them (PNG, 3D montages), `localization` scores them against
ground-truth masks (`masks` puts a cohort's masks on a run's input grid), `run` explains a trained
run directory (`radlens explain`), `cohort` scores a chest-CT run's maps against its cohort,
`evidence` keeps the maps' raw evidence, a shared drawing scale and the checkpoint's own scores,
`guided` computes guided backprop (for guided Grad-CAM / HiResCAM), `fusion` combines the maps of
several layers ("a+b" mean, "a*b" geometric mean),
`sanity` re-initialises the weights and compares localization (Adebayo et al. 2018).
"""

from radlens.explain.cam import CAM_METHODS, CamExplainer, CamResult, HiResCAM, compute_cam
from radlens.explain.cohort import RunLocalization, localize_run
from radlens.explain.evidence import (
    DEFAULT_TOLERANCE_MM,
    EVIDENCE_PERCENTILE,
    CaseMaps,
    Tolerance,
    case_maps,
    checkpoint_outcome,
    evidence_scale,
    localize_cases,
    parse_tolerance,
)
from radlens.explain.guided import guided_backprop
from radlens.explain.layers import MAX_STRIDE_3D, find_target_layer, probe_layers, select_layer
from radlens.explain.localization import LocalizationScore, score_heatmap
from radlens.explain.masks import resized_mask, study_fovs
from radlens.explain.overlays import heat_rgba, montage_3d, overlay_2d
from radlens.explain.run import ExplainCase, explain_run, pick_cases, render_cases
from radlens.explain.sanity import (
    SANITY_CSV,
    SANITY_MODES,
    randomised_models,
    sanity_localization,
    sanity_table,
)

__all__ = [
    "CAM_METHODS",
    "DEFAULT_TOLERANCE_MM",
    "EVIDENCE_PERCENTILE",
    "MAX_STRIDE_3D",
    "SANITY_CSV",
    "SANITY_MODES",
    "CamExplainer",
    "CamResult",
    "CaseMaps",
    "ExplainCase",
    "HiResCAM",
    "LocalizationScore",
    "RunLocalization",
    "Tolerance",
    "case_maps",
    "checkpoint_outcome",
    "compute_cam",
    "evidence_scale",
    "explain_run",
    "find_target_layer",
    "guided_backprop",
    "heat_rgba",
    "localize_cases",
    "localize_run",
    "montage_3d",
    "overlay_2d",
    "parse_tolerance",
    "pick_cases",
    "probe_layers",
    "randomised_models",
    "render_cases",
    "resized_mask",
    "sanity_localization",
    "sanity_table",
    "score_heatmap",
    "select_layer",
    "study_fovs",
]
