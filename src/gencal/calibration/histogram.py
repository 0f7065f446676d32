"""Top-label histogram binning (``histogram``, Zadrozny & Elkan 2001)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from gencal.calibration.arrays import equal_width_bin
from gencal.calibration.ats import equal_mass_pieces
from gencal.calibration.base import Inputs
from gencal.calibration.params import Constraint, Interval, Options
from gencal.calibration.registry import register_calibrator
from gencal.calibration.top_label import TopLabelCalibrator, top_label_and_correct

__all__ = ["HistogramBinning"]


@register_calibrator("histogram")
class HistogramBinning(TopLabelCalibrator):
    """Top-label histogram binning (Zadrozny & Elkan 2001): ``c_hat`` = accuracy of c's bin.

    ``strategy="equal_mass"`` (default): bin edges at weighted quantiles of the calibration
    confidences (equal confidences share a bin; bin ``j`` holds ``c <= edge_j``), so no bin is
    empty. ``strategy="equal_width"``: bins ``(j/n, (j+1)/n]`` (0 goes to the first bin); an
    empty bin maps to its midpoint (the bins of :mod:`gencal.metrics`). Confidences outside
    the fitted range fall in the end bins. Only the top-label confidence changes
    (:func:`~gencal.calibration.top_label.rescale_top_label`).

    Args:
        n_bins: number of bins (equal-mass bins with equal confidences merge).
        strategy: ``"equal_mass"`` or ``"equal_width"``.
        inputs: ``"logits"`` (default) or ``"probs"``: what ``fit`` / ``transform`` receive.
        balanced: fit with class-balanced sample weights (times any ``sample_weight``).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(300, 3)) * 3
        >>> cal = HistogramBinning(n_bins=5).fit(z, z.argmax(1))
        >>> cal.values_.round(2).tolist()
        [1.0, 1.0, 1.0, 1.0, 1.0]
    """

    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "n_bins": [Interval(int, 1, None, "left")],
        "strategy": [Options("equal_mass", "equal_width")],
    }

    def __init__(
        self,
        n_bins: int = 15,
        strategy: str = "equal_mass",
        *,
        inputs: Inputs = "logits",
        balanced: bool = False,
    ) -> None:
        super().__init__(inputs=inputs, balanced=balanced)
        self.n_bins = n_bins
        self.strategy = strategy

    def _bin(self, c: np.ndarray) -> np.ndarray:
        if self.strategy == "equal_width":
            return equal_width_bin(c, self.n_bins)
        return np.searchsorted(self.edges_, c, side="left")

    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        c, correct = top_label_and_correct(z, y)
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
