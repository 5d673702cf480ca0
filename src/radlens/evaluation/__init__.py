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
from radlens.evaluation.frames import PredictionSet, join_labels, prediction_set
from radlens.evaluation.metrics import (
    OperatingPoint,
    average_precision,
    choose_thresholds,
    operating_metrics,
    parse_operating_point,
)
from radlens.evaluation.report import write_report
from radlens.evaluation.rundir import build_model_card, evaluate_run_dir
from radlens.evaluation.tables import external_validation_summary

__all__ = [
    "BootstrapResult",
    "DeLongResult",
    "EvaluationResult",
    "LeakageReport",
    "OperatingPoint",
    "PairedTestResult",
    "PredictionSet",
    "TemperatureScaling",
    "audit_leakage",
    "average_precision",
    "bootstrap_auc_ap",
    "brier_score",
    "build_model_card",
    "check_patient_overlap",
    "choose_thresholds",
    "compare_predictions",
    "compare_runs",
    "delong",
    "delong_covariance",
    "delong_paired_test",
    "evaluate_predictions",
    "evaluate_run_dir",
    "expected_calibration_error",
    "external_validation_summary",
    "fit_temperature",
    "join_labels",
    "operating_metrics",
    "parse_operating_point",
    "patient_bootstrap",
    "prediction_set",
    "read_predictions",
    "reliability_curve",
    "result_table",
    "write_report",
]
