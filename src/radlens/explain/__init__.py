"""Explanations: Grad-CAM / Grad-CAM++ heatmaps (2D and 3D), overlays, localization scores."""

from radlens.explain.cam import (
    CAM_METHODS,
    CamExplainer,
    CamResult,
    compute_cam,
    find_target_layer,
    probe_layers,
)

__all__ = [
    "CAM_METHODS",
    "CamExplainer",
    "CamResult",
    "compute_cam",
    "find_target_layer",
    "probe_layers",
]
