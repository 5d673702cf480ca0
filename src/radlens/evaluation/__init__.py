"""Honest evaluation: DeLong AUROC CIs and paired tests, AUPRC, operating points, patient-level
bootstrap, calibration, per-site tables, leakage audit and the self-contained HTML report."""

from radlens.core import read_predictions
from radlens.evaluation.audit import LeakageReport, audit_leakage, check_patient_overlap
from radlens.evaluation.bootstrap import BootstrapResult, bootstrap_auc_ap, patient_bootstrap
from radlens.evaluation.calibration import (
    TemperatureScaling,
    brier_score,
    expected_calibration_error,
    fit_temperature,
    reliability_curve,
)
from radlens.evaluation.clustered_auc import (
    clustered_delong,
    clustered_delong_paired_test,
    headline_delong,
)
from radlens.evaluation.compare import compare_predictions, compare_runs
from radlens.evaluation.console import result_table
from radlens.evaluation.delong_auc import (
    DeLongResult,
    PairedTestResult,
    delong,
    delong_covariance,
    delong_paired_test,
)
from radlens.evaluation.evaluate import EvaluationResult, evaluate_predictions
from radlens.evaluation.focal import (
    FOCAL_FINDINGS,
    FocalCollector,
    FocalResult,
    case_focal,
    describe_candidate,
    focal_auroc,
    focal_scores,
    lobe_map,
    lobe_names,
    stack_scores,
)
from radlens.evaluation.frames import PredictionSet, join_labels, prediction_set
from radlens.evaluation.froc import (
    FROC_FP_RATES,
    FrocResult,
    FrocScan,
    froc,
    froc_figure,
    froc_scan,
    interpolate_sensitivity,
    match_candidates,
)
from radlens.evaluation.lesions import LesionCandidate, lesion_candidates, longest_axial_diameter
from radlens.evaluation.metrics import (
    OperatingPoint,
    average_precision,
    choose_thresholds,
    operating_metrics,
    parse_operating_point,
)
from radlens.evaluation.nodule_detection import (
    DETECTION_EVALUATION,
    evaluate_detector,
    evaluate_detector_run,
    sized_froc,
)
from radlens.evaluation.proportions import rate_intervals, wilson
from radlens.evaluation.report import write_report
from radlens.evaluation.rundir import build_model_card, evaluate_run_dir
from radlens.evaluation.segmentation_metrics import (
    LesionCounts,
    SegmentationScores,
    label_components,
    lesion_counts,
    score_cases,
    segmentation_scores,
    summarise_segmentation,
)
from radlens.evaluation.segmentation_report import (
    SEG_SECTION_END,
    SEG_SECTION_START,
    segmentation_section,
)
from radlens.evaluation.segmentation_run import (
    evaluate_segmentation_run,
    is_segmentation_run,
)
from radlens.evaluation.survival import (
    concordance_index,
    cumulative_dynamic_auc,
    kaplan_meier,
    survival_bootstrap,
)
from radlens.evaluation.survival_run import (
    DEMO_SURVIVAL,
    evaluate_survival_run,
    is_survival_run,
    risk_groups,
    survival_demo,
)
from radlens.evaluation.tables import external_validation_summary
from radlens.evaluation.text_map_section import TEXT_MAPS_DIR, TEXT_MAPS_JSON, text_map_section
from radlens.evaluation.thresholds import (
    MIN_VAL_POSITIVES,
    ThresholdChoice,
    select_thresholds,
    urgency_rates,
    urgency_rates_text,
)
from radlens.evaluation.tripod import cohort_summary

__all__ = [
    "DEMO_SURVIVAL",
    "DETECTION_EVALUATION",
    "FOCAL_FINDINGS",
    "FROC_FP_RATES",
    "MIN_VAL_POSITIVES",
    "SEG_SECTION_END",
    "SEG_SECTION_START",
    "TEXT_MAPS_DIR",
    "TEXT_MAPS_JSON",
    "BootstrapResult",
    "DeLongResult",
    "EvaluationResult",
    "FocalCollector",
    "FocalResult",
    "FrocResult",
    "FrocScan",
    "LeakageReport",
    "LesionCandidate",
    "LesionCounts",
    "OperatingPoint",
    "PairedTestResult",
    "PredictionSet",
    "SegmentationScores",
    "TemperatureScaling",
    "ThresholdChoice",
    "audit_leakage",
    "average_precision",
    "bootstrap_auc_ap",
    "brier_score",
    "build_model_card",
    "case_focal",
    "check_patient_overlap",
    "choose_thresholds",
    "clustered_delong",
    "clustered_delong_paired_test",
    "cohort_summary",
    "compare_predictions",
    "compare_runs",
    "concordance_index",
    "cumulative_dynamic_auc",
    "delong",
    "delong_covariance",
    "delong_paired_test",
    "describe_candidate",
    "evaluate_detector",
    "evaluate_detector_run",
    "evaluate_predictions",
    "evaluate_run_dir",
    "evaluate_segmentation_run",
    "evaluate_survival_run",
    "expected_calibration_error",
    "external_validation_summary",
    "fit_temperature",
    "focal_auroc",
    "focal_scores",
    "froc",
    "froc_figure",
    "froc_scan",
    "headline_delong",
    "interpolate_sensitivity",
    "is_segmentation_run",
    "is_survival_run",
    "join_labels",
    "kaplan_meier",
    "label_components",
    "lesion_candidates",
    "lesion_counts",
    "lobe_map",
    "lobe_names",
    "longest_axial_diameter",
    "match_candidates",
    "operating_metrics",
    "parse_operating_point",
    "patient_bootstrap",
    "prediction_set",
    "rate_intervals",
    "read_predictions",
    "reliability_curve",
    "result_table",
    "risk_groups",
    "score_cases",
    "segmentation_scores",
    "segmentation_section",
    "select_thresholds",
    "sized_froc",
    "stack_scores",
    "summarise_segmentation",
    "survival_bootstrap",
    "survival_demo",
    "text_map_section",
    "urgency_rates",
    "urgency_rates_text",
    "wilson",
    "write_report",
]
