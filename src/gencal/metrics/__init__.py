"""gencal.metrics: calibration and accuracy metrics, ``calibration_report``, reliability diagrams.

Functional metrics take probabilities ``[N, K]`` and integer labels ``[N]`` and return floats;
``calibration_report(labels, logits=... | probs=...)`` computes all of them in one pass.
See ``docs/metrics.md`` for the conventions (bin edges, ties, normalisations).
"""

from gencal.metrics.bootstrap import BootstrapCI, bootstrap_ci
from gencal.metrics.functional import (
    accuracy,
    adaptive_calibration_error,
    balanced_accuracy,
    brier_score,
    classwise_calibration_error,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
)
from gencal.metrics.groups import groups_from_counts, metric_by_group, parse_groups
from gencal.metrics.report import calibration_report
from gencal.metrics.selective import aurc, fpr_at_95_tpr, ood_auroc
from gencal.metrics.smooth import smooth_ece, smooth_ece_sigma
from gencal.metrics.stateful import (
    Accuracy,
    AdaptiveCalibrationError,
    BrierScore,
    ClasswiseCalibrationError,
    ExpectedCalibrationError,
    MaximumCalibrationError,
    NegativeLogLikelihood,
)

__all__ = [
    "Accuracy",
    "AdaptiveCalibrationError",
    "BootstrapCI",
    "BrierScore",
    "ClasswiseCalibrationError",
    "ExpectedCalibrationError",
    "MaximumCalibrationError",
    "NegativeLogLikelihood",
    "ReliabilityData",
    "accuracy",
    "adaptive_calibration_error",
    "aurc",
    "balanced_accuracy",
    "bootstrap_ci",
    "brier_score",
    "calibration_report",
    "classwise_calibration_error",
    "expected_calibration_error",
    "fpr_at_95_tpr",
    "groups_from_counts",
    "maximum_calibration_error",
    "metric_by_group",
    "negative_log_likelihood",
    "ood_auroc",
    "parse_groups",
    "plot_reliability",
    "reliability_data",
    "smooth_ece",
    "smooth_ece_sigma",
]

_LAZY = {"ReliabilityData", "plot_reliability", "reliability_data"}


def __getattr__(name: str):
    # matplotlib is imported only when a reliability diagram is asked for
    if name in _LAZY:
        from gencal.metrics import reliability

        return getattr(reliability, name)
    raise AttributeError(f"module 'gencal.metrics' has no attribute {name!r}")
