"""Explanations: Grad-CAM / Grad-CAM++ heatmaps (2D and 3D), overlays, localization scores.

`cam` computes maps, `overlays` draws them (PNG, 3D montages), `localization` scores them against
ground-truth masks (`masks` puts a cohort's masks on a run's input grid), `run` explains a trained
run directory (`radlens explain`), `cohort` scores a chest-CT run's maps against its cohort.
"""

from radlens.explain.cam import CAM_METHODS, CamExplainer, CamResult, compute_cam
from radlens.explain.layers import MAX_STRIDE_3D, find_target_layer, probe_layers, select_layer
from radlens.explain.masks import resized_mask, study_fovs
from radlens.explain.overlays import heat_rgba
from radlens.explain.run import ExplainCase, explain_run, pick_cases, render_cases

__all__ = [
    "CAM_METHODS",
    "MAX_STRIDE_3D",
    "CamExplainer",
    "CamResult",
    "ExplainCase",
    "compute_cam",
    "explain_run",
    "find_target_layer",
    "heat_rgba",
    "pick_cases",
    "probe_layers",
    "render_cases",
    "resized_mask",
    "select_layer",
    "study_fovs",
]
