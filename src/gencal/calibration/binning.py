"""Top-label isotonic regression and histogram binning.

Both recalibrate only the top-label confidence ``c = max_k softmax(z)_k``: a monotone
(isotonic) or piecewise-constant (histogram) map ``c -> c_hat`` is fitted on (confidence,
correct) pairs of the calibration split. The other classes keep their relative sizes and share
the remaining mass: ``p_k = softmax(z)_k * (1 - c_hat) / (1 - c)`` for ``k != top`` (uniformly
``(1 - c_hat) / (K - 1)`` when ``c = 1`` to machine precision). Probabilities are then floored at
``PROB_FLOOR`` and renormalised, and ``transform`` returns their log, so that
``softmax(transform(z)) == predict_proba(z)``. These maps are not strictly increasing, so they
can produce ties and may change the argmax when ``c_hat`` drops below the runner-up's new share;
that is inherent to top-label binning methods (temperature methods never change it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression

from gencal._checks import GencalInputError
from gencal.calibration.ats import equal_mass_pieces
from gencal.calibration.base import PROB_FLOOR, Calibrator, register_calibrator, softmax_np

__all__ = ["HistogramBinning", "IsotonicCalibration"]


def _rescale_top(z: np.ndarray, c_hat: np.ndarray) -> np.ndarray:
    p = softmax_np(z)
    n, k = p.shape
    top = p.argmax(axis=1)
    rows = np.arange(n)
    c = p[rows, top]
    rest = 1.0 - c
    c_hat = np.clip(c_hat, 0.0, 1.0)
    safe = rest > 1e-12
    factor = np.where(safe, (1.0 - c_hat) / np.where(safe, rest, 1.0), 0.0)
    out = p * factor[:, None]
    out[~safe] = ((1.0 - c_hat[~safe]) / (k - 1))[:, None]
    out[rows, top] = c_hat
    out = np.maximum(out, PROB_FLOOR)
    out /= out.sum(axis=1, keepdims=True)
    return out


class _TopLabelCalibrator(Calibrator):
    def _top_map(self, c: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _predict_proba(self, z: np.ndarray) -> np.ndarray:
        c = softmax_np(z).max(axis=1)
        return _rescale_top(z, self._top_map(c))

    def _transform(self, z: np.ndarray) -> np.ndarray:
        return np.log(self._predict_proba(z))


def _top_and_correct(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = softmax_np(z)
    return p.max(axis=1), (p.argmax(axis=1) == y).astype(np.float64)


@register_calibrator("isotonic")
class IsotonicCalibration(_TopLabelCalibrator):
    """Top-label isotonic regression (Zadrozny & Elkan 2002) of correctness on confidence.

    ``sklearn.isotonic.IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")``, weighted;
    the fitted step points are stored and applied by linear interpolation (exactly what
    scikit-learn's ``predict`` does), flat outside the fitted range.
    """

    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        c, correct = _top_and_correct(z, y)
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


@register_calibrator("histogram")
class HistogramBinning(_TopLabelCalibrator):
    """Top-label histogram binning (Zadrozny & Elkan 2001): ``c_hat`` = accuracy of c's bin.

    ``strategy="equal_mass"`` (default): bin edges at weighted quantiles of the calibration
    confidences (equal confidences share a bin; bin ``j`` holds ``c <= edge_j``), so no bin is
    empty. ``strategy="equal_width"``: bins ``(j/n, (j+1)/n]`` (0 goes to the first bin); an
    empty bin maps to its midpoint. Confidences outside the fitted range fall in the end bins.
    """

    _hparams = ("n_bins", "strategy")

    def __init__(self, n_bins: int = 15, strategy: str = "equal_mass") -> None:
        super().__init__()
        if int(n_bins) < 1:
            raise GencalInputError(f"n_bins: must be >= 1, got {n_bins}")
        if strategy not in ("equal_mass", "equal_width"):
            raise GencalInputError(
                f"strategy: expected 'equal_mass' or 'equal_width', got {strategy!r}"
            )
        self.n_bins = int(n_bins)
        self.strategy = strategy

    def _bin(self, c: np.ndarray) -> np.ndarray:
        if self.strategy == "equal_width":
            return np.clip(np.ceil(c * self.n_bins).astype(np.int64) - 1, 0, self.n_bins - 1)
        return np.searchsorted(self.edges_, c, side="left")

    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        c, correct = _top_and_correct(z, y)
        ww = np.ones(len(y)) if w is None else w
        if self.strategy == "equal_mass":
            self.edges_ = equal_mass_pieces(c, ww, self.n_bins, 0.0)
            nb = self.edges_.size + 1
        else:
            self.edges_ = np.linspace(0.0, 1.0, self.n_bins + 1)[1:-1]
            nb = self.n_bins
        idx = self._bin(c)
        tot = np.bincount(idx, weights=ww, minlength=nb)
        acc = np.bincount(idx, weights=ww * correct, minlength=nb)
        mid = (np.arange(nb) + 0.5) / nb
        self.values_ = np.where(tot > 0, acc / np.where(tot > 0, tot, 1.0), mid)

    def _top_map(self, c: np.ndarray) -> np.ndarray:
        return self.values_[self._bin(c)]

    def _get_state(self) -> dict[str, Any]:
        return {"edges": self.edges_.tolist(), "values": self.values_.tolist()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.edges_ = np.asarray(state["edges"], dtype=np.float64)
        self.values_ = np.asarray(state["values"], dtype=np.float64)
