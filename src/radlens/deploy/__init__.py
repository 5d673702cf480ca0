"""Deployment: score new inputs with a trained run (`predict`) and export it (TorchScript, ONNX)."""

from radlens.deploy.export import (
    EXPORT_FORMATS,
    TOLERANCE,
    ExportResult,
    export_run,
    sidecar_path,
)
from radlens.deploy.inputs import PredictInput, collect_inputs
from radlens.deploy.predictor import Predictor
from radlens.deploy.scoring import OUTPUT_SUFFIXES, STAGES, check_output, predict, write_table

__all__ = [
    "EXPORT_FORMATS",
    "OUTPUT_SUFFIXES",
    "STAGES",
    "TOLERANCE",
    "ExportResult",
    "PredictInput",
    "Predictor",
    "check_output",
    "collect_inputs",
    "export_run",
    "predict",
    "sidecar_path",
    "write_table",
]
