"""Top-label isotonic regression (``isotonic``, Zadrozny & Elkan 2002)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression

from gencal.calibration.registry import register_calibrator
from gencal.calibration.top_label import TopLabelCalibrator, top_label_and_correct

__all__ = ["IsotonicCalibration"]


@register_calibrator("isotonic")
class IsotonicCalibration(TopLabelCalibrator):
    """Top-label isotonic regression (Zadrozny & Elkan 2002) of correctness on confidence.

    ``sklearn.isotonic.IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")``, weighted;
    the fitted step points are stored and applied by linear interpolation (exactly what
    scikit-learn's ``predict`` does), flat outside the fitted range. Only the top-label
    confidence changes (:func:`~gencal.calibration.top_label.rescale_top_label`); the map is flat
    in places, so samples can tie and the argmax can change.

    Args:
        inputs: ``"logits"`` (default) or ``"probs"``: what ``fit`` / ``transform`` receive.
        balanced: fit with class-balanced sample weights (times any ``sample_weight``).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(300, 3)) * 3
        >>> p = IsotonicCalibration().fit(z, z.argmax(1)).predict_proba(z)
        >>> bool(np.allclose(p.sum(1), 1.0))
        True
    """

    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        c, correct = top_label_and_correct(z, y)
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
        iso.fit(c, correct, sample_weight=w)
        self.x_ = np.asarray(iso.X_thresholds_, dtype=np.float64)
        self.y_ = np.asarray(iso.y_thresholds_, dtype=np.float64)

    def _top_map(self, c: np.ndarray) -> np.ndarray:
        return np.interp(c, self.x_, self.y_)

    def _get_state(self) -> dict[str, Any]:
        return {"x": self.x_.tolist(), "y": self.y_.tolist()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.x_ = np.asarray(state["x"], dtype=np.float64)
        self.y_ = np.asarray(state["y"], dtype=np.float64)
