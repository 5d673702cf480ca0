"""Deployment: score new inputs with a trained run (`predict`) and export it (TorchScript, ONNX);
lesion candidates of a study from a segmentation run (`SegmentationScorer`) or a nodule detector
run (`DetectorScorer`) and sentence maps of an image-text run (`TextMapper`,
`write_text_map_gallery`)."""

from radlens.deploy.detector_lesions import DetectorScorer
from radlens.deploy.export import (
    EXPORT_FORMATS,
    TOLERANCE,
    ExportResult,
    export_run,
    sidecar_path,
)
from radlens.deploy.inputs import PredictInput, collect_inputs
from radlens.deploy.lesions import LesionFinders, LesionResult, SegmentationScorer, StudyLesion
from radlens.deploy.predictor import Predictor
from radlens.deploy.scoring import OUTPUT_SUFFIXES, STAGES, check_output, predict, write_table
from radlens.deploy.text_maps import TextMapper, write_text_map_gallery

__all__ = [
    "EXPORT_FORMATS",
    "OUTPUT_SUFFIXES",
    "STAGES",
    "TOLERANCE",
    "DetectorScorer",
    "ExportResult",
    "LesionFinders",
    "LesionResult",
    "PredictInput",
    "Predictor",
    "SegmentationScorer",
    "StudyLesion",
    "TextMapper",
    "check_output",
    "collect_inputs",
    "export_run",
    "predict",
    "sidecar_path",
    "write_table",
    "write_text_map_gallery",
]
