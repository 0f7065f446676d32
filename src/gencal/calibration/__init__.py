"""gencal.calibration: post-hoc calibrators fitted on a calibration split's logits.

``get_calibrator(name, **hparams)`` with names ``none ts ts_grid ats vector dirichlet isotonic
histogram``; every calibrator has ``fit(logits, labels, sample_weight=None)``,
``transform(logits) -> logits``, ``predict_proba(logits) -> probs`` and plain-JSON
``save``/``load_calibrator``. One module per method (``temperature``, ``ts_grid``, ``ats``,
``vector``, ``dirichlet``, ``isotonic``, ``histogram``, ``identity``) on the base class
(``base``), the registry (``registry``) and array helpers (``arrays``). See docs/calibration.md.
"""

from gencal._checks import InputLooksLikeProbabilitiesWarning
from gencal.calibration.arrays import class_balanced_weights
from gencal.calibration.ats import AdaptiveTemperatureScaling
from gencal.calibration.base import Calibrator
from gencal.calibration.dirichlet import DirichletCalibration
from gencal.calibration.histogram import HistogramBinning
from gencal.calibration.identity import IdentityCalibrator
from gencal.calibration.isotonic import IsotonicCalibration
from gencal.calibration.model import CalibratedModel
from gencal.calibration.registry import (
    get_calibrator,
    list_calibrators,
    load_calibrator,
    register_calibrator,
)
from gencal.calibration.temperature import TemperatureAtBoundWarning, TemperatureScaling
from gencal.calibration.ts_grid import GridTemperatureScaling
from gencal.calibration.vector import VectorScaling

__all__ = [
    "AdaptiveTemperatureScaling",
    "CalibratedModel",
    "Calibrator",
    "DirichletCalibration",
    "GridTemperatureScaling",
    "HistogramBinning",
    "IdentityCalibrator",
    "InputLooksLikeProbabilitiesWarning",
    "IsotonicCalibration",
    "TemperatureAtBoundWarning",
    "TemperatureScaling",
    "VectorScaling",
    "class_balanced_weights",
    "get_calibrator",
    "list_calibrators",
    "load_calibrator",
    "register_calibrator",
]
