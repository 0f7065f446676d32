"""Grid temperature scaling (``ts_grid``) of the focal-calibration papers (Mukhoti et al. 2020)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from gencal.calibration.arrays import equal_width_bin, softmax_np
from gencal.calibration.base import Inputs
from gencal.calibration.params import Constraint, Interval, Options, SequenceOf
from gencal.calibration.registry import register_calibrator
from gencal.calibration.temperature import SingleTemperatureCalibrator, TemperatureProblem

__all__ = ["GridTemperatureScaling"]


def _default_grid() -> list[float]:
    return [round(0.1 * i, 1) for i in range(1, 101)]


@register_calibrator("ts_grid")
class GridTemperatureScaling(SingleTemperatureCalibrator):
    """Grid-search temperature scaling: the grid temperature with the best calibration score.

    Tries ``T in temperatures`` and keeps the one with the lowest ``criterion`` on the
    calibration split. Ties keep the first (smallest) ``T`` of the list. This is the
    focal-calibration code's ``set_temperature(cross_validate="ece")``; use it to reproduce
    published "(T)" numbers (:class:`~gencal.calibration.TemperatureScaling` is the exact NLL
    fit). ``scores_`` holds the criterion per grid point.

    Args:
        criterion: ``"ece"`` (top-label ECE with ``n_bins`` equal-width bins, as
            :func:`gencal.metrics.expected_calibration_error`; sample-weighted when weights are
            given) or ``"nll"``.
        n_bins: bins of the ECE.
        temperatures: the grid (default ``0.1, 0.2, ..., 10.0``).
        inputs: ``"logits"`` (default) or ``"probs"``: what ``fit`` / ``transform`` receive.
        balanced: fit with class-balanced sample weights (times any ``sample_weight``).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(400, 3)) * 4
        >>> y = z.argmax(1)
        >>> GridTemperatureScaling(temperatures=[0.5, 1.0, 2.0]).fit(z, y).temperature_
        0.5
    """

    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "criterion": [Options("ece", "nll")],
        "n_bins": [Interval(int, 1, None, "left")],
        "temperatures": [None, SequenceOf(Interval(float, 0, None, "neither"))],
    }

    def __init__(
        self,
        criterion: str = "ece",
        n_bins: int = 15,
        temperatures: list[float] | None = None,
        *,
        inputs: Inputs = "logits",
        balanced: bool = False,
    ) -> None:
        super().__init__(inputs=inputs, balanced=balanced)
        self.criterion = criterion
        self.n_bins = n_bins
        self.temperatures = temperatures

    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        prob = TemperatureProblem(z, y, w)
        grid = [float(t) for t in self.temperatures or _default_grid()]
        scores = []
        for t in grid:
            if self.criterion == "nll":
                scores.append(prob.nll(1.0 / t) / prob.weight)
            else:
                scores.append(_ece(softmax_np(z / t), y, w, self.n_bins))
        self.scores_ = scores
        self.temperature_ = grid[int(np.argmin(scores))]


def _ece(probs: np.ndarray, y: np.ndarray, w: np.ndarray | None, n_bins: int) -> float:
    """Top-label ECE of ``probs``; sample-weighted when ``w`` is given (same bins either way)."""
    # imported here: gencal.metrics pulls in torchmetrics, which the light core avoids
    from gencal.metrics import expected_calibration_error

    if w is None:
        return expected_calibration_error(probs, y, n_bins, validate_args=False)
    # gencal.metrics has no sample weights: its bins, weighted sums of (confidence - correct)
    conf = probs.max(axis=1)
    gap = conf - (probs.argmax(axis=1) == y)
    b = equal_width_bin(conf, n_bins)
    return float(np.abs(np.bincount(b, weights=w * gap, minlength=n_bins)).sum() / w.sum())
