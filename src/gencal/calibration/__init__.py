"""gencal.calibration: post-hoc calibrators fitted on a calibration split's logits.

``get_calibrator(name, **hparams)`` with names ``none ts ts_grid ats vector dirichlet isotonic
histogram ets spline la``; every calibrator has ``fit(logits, labels, sample_weight=None)``,
``transform(logits) -> logits``, ``predict_proba(logits) -> probs`` and plain-JSON
``save``/``load_calibrator``. See docs/calibration.md.
"""

from gencal.calibration.ats import AdaptiveTemperatureScaling
from gencal.calibration.base import (
    Calibrator,
    class_balanced_weights,
    get_calibrator,
    list_calibrators,
    load_calibrator,
    register_calibrator,
)
from gencal.calibration.binning import HistogramBinning, IsotonicCalibration
from gencal.calibration.ets import EnsembleTemperatureScaling
from gencal.calibration.linear import DirichletCalibration, VectorScaling
from gencal.calibration.logit_adjustment import LogitAdjustment
from gencal.calibration.spline import SplineCalibration
from gencal.calibration.temperature import (
    GridTemperatureScaling,
    IdentityCalibrator,
    TemperatureScaling,
)

__all__ = [
    "AdaptiveTemperatureScaling",
    "Calibrator",
    "DirichletCalibration",
    "EnsembleTemperatureScaling",
    "GridTemperatureScaling",
    "HistogramBinning",
    "IdentityCalibrator",
    "IsotonicCalibration",
    "LogitAdjustment",
    "SplineCalibration",
    "TemperatureScaling",
    "VectorScaling",
    "class_balanced_weights",
    "get_calibrator",
    "list_calibrators",
    "load_calibrator",
    "register_calibrator",
]
