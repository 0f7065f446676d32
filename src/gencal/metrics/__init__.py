"""gencal.metrics: calibration and accuracy metrics, ``calibration_report``, reliability diagrams.

Functional metrics take probabilities ``[N, K]`` and integer labels ``[N]`` (scores first, labels
second) and return floats; ``calibration_report(scores, labels, inputs="logits"|"probs")``
computes all of them in one pass. Binary problems may pass one column, the positive class's
score. The bins are defined once, in :mod:`gencal.metrics.binning`; see ``docs/metrics.md``.
The stateful (torchmetrics) classes and the reliability diagrams are loaded on first use, so that
``import gencal.metrics`` needs neither torchmetrics nor matplotlib.
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
from gencal.metrics.selective import aurc, fpr_at_95_tpr, ood_auroc
from gencal.metrics.smooth import smooth_ece, smooth_ece_sigma
from gencal.metrics.summary import calibration_report

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

_LAZY = {
    "ReliabilityData": "reliability",
    "plot_reliability": "reliability",
    "reliability_data": "reliability",
    "Accuracy": "stateful",
    "AdaptiveCalibrationError": "stateful",
    "BrierScore": "stateful",
    "ClasswiseCalibrationError": "stateful",
    "ExpectedCalibrationError": "stateful",
    "MaximumCalibrationError": "stateful",
    "NegativeLogLikelihood": "stateful",
}


def __getattr__(name: str):
    # torchmetrics (which imports matplotlib) only when a stateful metric is asked for
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"gencal.metrics.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'gencal.metrics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
