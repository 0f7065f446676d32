"""The identity calibrator (``none``): a baseline that leaves the logits as they are."""

from __future__ import annotations

import numpy as np

from gencal.calibration.base import Calibrator
from gencal.calibration.registry import register_calibrator

__all__ = ["IdentityCalibrator"]


@register_calibrator("none")
class IdentityCalibrator(Calibrator):
    """No calibration: ``transform(z) = z`` (still validates its input and needs ``fit``).

    Args:
        inputs: ``"logits"`` (default) or ``"probs"``: what ``fit`` / ``transform`` receive.
        balanced: fit with class-balanced sample weights (times any ``sample_weight``).

    Example:
        >>> z = np.array([[2.0, 0.0], [0.0, 1.0]])
        >>> IdentityCalibrator().fit(z, np.array([0, 1])).transform(z).tolist()
        [[2.0, 0.0], [0.0, 1.0]]
    """

    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        pass

    def _transform(self, z: np.ndarray) -> np.ndarray:
        return z
