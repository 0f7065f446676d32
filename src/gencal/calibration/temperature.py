"""Identity, temperature scaling (``ts``) and the grid temperature scaling (``ts_grid``).

Temperature scaling (Guo et al. 2017): calibrated logits ``z / T`` with one ``T > 0`` for all
samples and classes; it never changes the argmax.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gencal._checks import GencalInputError
from gencal.calibration._temperature import (
    TemperatureProblem,
    ece_equal_width,
    solve_nonincreasing_root,
    solve_root_newton,
)
from gencal.calibration.base import Calibrator, register_calibrator

__all__ = ["GridTemperatureScaling", "IdentityCalibrator", "TemperatureScaling"]


@register_calibrator("none")
class IdentityCalibrator(Calibrator):
    """No calibration: ``transform(z) = z`` (still validates input and needs ``fit``)."""

    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        pass

    def _transform(self, z: np.ndarray) -> np.ndarray:
        return z


class _ScalarTemperature(Calibrator):
    temperature_: float

    def _transform(self, z: np.ndarray) -> np.ndarray:
        return z / self.temperature_

    def _get_state(self) -> dict[str, Any]:
        return {"temperature": float(self.temperature_)}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.temperature_ = float(state["temperature"])


def _in_log_t(fn, u: float) -> tuple[float, float]:
    """``(h(u), dh/du)`` for ``h(u) = fn(exp(-u))``: ``dh/du = -beta * dfn/dbeta``."""
    beta = float(np.exp(-u))
    v, dv = fn(beta)
    return v, -beta * dv


def fit_temperature(
    problem: TemperatureProblem,
    objective: str = "nll",
    t_min: float = 1e-2,
    t_max: float = 1e2,
    xtol: float = 1e-10,
    solver: str = "newton",
) -> float:
    """The temperature that zeroes the derivative of the (weighted) NLL in ``log T``.

    ``objective="nll"`` solves ``sum_i w_i (E_{p_i}[z_i] - z_{i,y_i}) = 0`` (the NLL optimum);
    ``objective="ece"`` solves ``sum_i w_i (conf_i - correct_i) = 0`` (mean confidence equals
    accuracy: single-bin calibration). Both left sides are non-increasing in ``log T``, so the
    root is unique; it is found by safeguarded Newton in ``u = log T`` (exact derivatives, kept
    inside a sign bracket; :func:`solve_root_newton`; ``solver="brent"``: bracket expansion +
    :func:`scipy.optimize.brentq`) and clipped to
    ``[t_min, t_max]`` (reached when the split is all-correct, say: NLL then keeps falling
    as ``T -> 0``).
    """
    if objective == "nll":
        fn = problem.nll_grad_and_slope
    elif objective == "ece":
        fn = problem.conf_gap_and_slope
    else:
        raise GencalInputError(f"objective: expected 'nll' or 'ece', got {objective!r}")
    lo, hi = float(np.log(t_min)), float(np.log(t_max))
    if solver == "newton":
        u = solve_root_newton(lambda u: _in_log_t(fn, u), lo, hi, xtol=xtol)
    elif solver == "brent":
        u = solve_nonincreasing_root(lambda u: _in_log_t(fn, u)[0], lo, hi, xtol=xtol)
    else:
        raise GencalInputError(f"solver: expected 'newton' or 'brent', got {solver!r}")
    return float(np.exp(u))


def _check_bounds(t_min: float, t_max: float) -> None:
    if not (0 < t_min < t_max < np.inf):
        raise GencalInputError(f"need 0 < t_min < t_max < inf, got t_min={t_min}, t_max={t_max}")


@register_calibrator("ts")
class TemperatureScaling(_ScalarTemperature):
    """Temperature scaling fitted on the (weighted) NLL by 1-D root finding in ``log T``.

    No learning rate, positive by construction, exact to ``xtol=1e-10`` in ``log T``
    (safeguarded Newton on the NLL derivative, typically 4-6 passes over the logits).
    ``t_min``/``t_max`` bound the temperature; ``solver="brent"`` uses bracket expansion +
    :func:`scipy.optimize.brentq` on the derivative instead (same root, ~2x more passes).
    """

    _hparams = ("t_min", "t_max", "solver")

    def __init__(self, t_min: float = 1e-2, t_max: float = 1e2, solver: str = "newton") -> None:
        super().__init__()
        _check_bounds(t_min, t_max)
        if solver not in ("newton", "brent"):
            raise GencalInputError(f"solver: expected 'newton' or 'brent', got {solver!r}")
        self.t_min = float(t_min)
        self.t_max = float(t_max)
        self.solver = solver

    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        self.temperature_ = fit_temperature(
            TemperatureProblem(z, y, w), "nll", self.t_min, self.t_max, solver=self.solver
        )


@register_calibrator("ts_grid")
class GridTemperatureScaling(_ScalarTemperature):
    """Grid-search temperature scaling of the focal-calibration papers (Mukhoti et al. 2020).

    Tries ``T in temperatures`` (default 0.1, 0.2, ..., 10.0) and keeps the one with the lowest
    ``criterion`` on the calibration split: ``"ece"`` (default; top-label ECE with ``n_bins``
    equal-width bins ``(lo, hi]``, 15 by default) or ``"nll"``. Ties keep the first (smallest) T of the list.
    Use it to reproduce published "(T)" numbers; :class:`TemperatureScaling` is the exact NLL fit.
    """

    _hparams = ("criterion", "n_bins", "temperatures")

    def __init__(
        self,
        criterion: str = "ece",
        n_bins: int = 15,
        temperatures: list[float] | None = None,
    ) -> None:
        super().__init__()
        if criterion not in ("ece", "nll"):
            raise GencalInputError(f"criterion: expected 'ece' or 'nll', got {criterion!r}")
        if int(n_bins) < 1:
            raise GencalInputError(f"n_bins: must be >= 1, got {n_bins}")
        if temperatures is None:
            temperatures = [round(0.1 * i, 1) for i in range(1, 101)]
        temps = [float(t) for t in temperatures]
        if not temps or min(temps) <= 0 or not np.all(np.isfinite(temps)):
            raise GencalInputError("temperatures: need a non-empty list of positive numbers")
        self.criterion = criterion
        self.n_bins = int(n_bins)
        self.temperatures = temps

    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        prob = TemperatureProblem(z, y, w)
        scores = []
        for t in self.temperatures:
            if self.criterion == "nll":
                scores.append(prob.nll(1.0 / t) / prob.weight)
            else:
                conf = 1.0 / np.exp(prob.zs / t).sum(axis=1)
                scores.append(ece_equal_width(conf, prob.correct, w, self.n_bins))
        self.scores_ = scores
        self.temperature_ = float(self.temperatures[int(np.argmin(scores))])
