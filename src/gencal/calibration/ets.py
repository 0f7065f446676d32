"""Ensemble temperature scaling (``ets``; Zhang, Kailkhura & Han 2020, "Mix-n-Match").

Calibrated probabilities are a convex mix of three distributions:

    p = w_0 softmax(z / T) + w_1 softmax(z) + w_2 / K,   w >= 0, w_0 + w_1 + w_2 = 1.

Fit as in the paper's reference code, both steps with the same ``loss``:

1. ``T`` by temperature scaling (``loss="nll"``: the exact NLL root of :func:`fit_temperature`;
   ``loss="mse"``: the Brier score minimised over ``log T`` in ``[log t_min, log t_max]``).
2. ``w`` by minimising the (weighted) mean loss of the mix over the simplex (SLSQP from
   ``(1, 0, 0)``, i.e. from plain TS).

``loss="mse"`` (the Brier score ``sum_k (p_k - 1[y = k])^2``, the paper's default) or ``"nll"``.
Every component is monotone in the logits, so the argmax never changes. ``transform`` returns
``log(p)`` (probabilities floored at ``PROB_FLOOR`` and renormalised).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from gencal.calibration.arrays import softmax_np
from gencal.calibration.base import PROB_FLOOR, Calibrator, Inputs
from gencal.calibration.params import Constraint, Interval, Options
from gencal.calibration.registry import register_calibrator
from gencal.calibration.temperature import (
    TemperatureProblem,
    check_temperature_bounds,
    fit_temperature,
)

__all__ = ["EnsembleTemperatureScaling"]


def _loss_terms(p: np.ndarray, y: np.ndarray, loss: str) -> np.ndarray:
    """Per-sample NLL or Brier score of probabilities ``p [N, K]``."""
    rows = np.arange(len(y))
    if loss == "nll":
        return -np.log(np.maximum(p[rows, y], 1e-300))
    sq = (p * p).sum(axis=1) - 2 * p[rows, y] + 1.0
    return sq


@register_calibrator("ets")
class EnsembleTemperatureScaling(Calibrator):
    """Ensemble temperature scaling: a convex mix of TS, the raw softmax and the uniform.

    Args:
        loss: ``"mse"`` (Brier score, the paper's default) or ``"nll"``; used for ``T`` and ``w``.
        t_min: lower bound on the temperature.
        t_max: upper bound on the temperature.
        inputs: ``"logits"`` (default) or ``"probs"`` (see :class:`Calibrator`).
        balanced: fit with class-balanced sample weights (see :class:`Calibrator`).

    Shape:
        ``fit(logits [N, K], labels [N])``; ``predict_proba(logits [M, K]) -> [M, K]``.

    Fitted attributes: ``temperature_`` and ``weights_`` (``[w_ts, w_raw, w_uniform]``).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(500, 4)) * 3
        >>> p = np.exp(z / 2) / np.exp(z / 2).sum(1, keepdims=True)
        >>> y = np.array([rng.choice(4, p=r) for r in p])
        >>> ets = EnsembleTemperatureScaling().fit(z, y)
        >>> bool(abs(ets.weights_.sum() - 1) < 1e-9 and 1.3 < ets.temperature_ < 3)
        True
    """

    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "loss": [Options("mse", "nll")],
        "t_min": [Interval(float, 0, None, "neither")],
        "t_max": [Interval(float, 0, None, "neither")],
    }

    def __init__(
        self,
        loss: str = "mse",
        t_min: float = 0.05,
        t_max: float = 20.0,
        *,
        inputs: Inputs = "logits",
        balanced: bool = False,
    ) -> None:
        super().__init__(inputs=inputs, balanced=balanced)
        self.loss = loss
        self.t_min = t_min
        self.t_max = t_max

    def _check_params(self) -> None:
        check_temperature_bounds(self.t_min, self.t_max)

    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        n, k = z.shape
        ww = np.ones(n) if w is None else w
        ww = ww / ww.sum()
        if self.loss == "nll":
            t = fit_temperature(TemperatureProblem(z, y, w), "nll", self.t_min, self.t_max)
        else:
            res = minimize_scalar(
                lambda u: float(ww @ _loss_terms(softmax_np(z / np.exp(u)), y, "mse")),
                bounds=(np.log(self.t_min), np.log(self.t_max)),
                method="bounded",
                options={"xatol": 1e-8},
            )
            t = float(np.exp(res.x))
        comps = np.stack([softmax_np(z / t), softmax_np(z), np.full((n, k), 1.0 / k)])

        def objective(v: np.ndarray) -> float:
            return float(ww @ _loss_terms(np.tensordot(v, comps, axes=1), y, self.loss))

        res = minimize(
            objective,
            np.array([1.0, 0.0, 0.0]),
            method="SLSQP",
            bounds=[(0.0, 1.0)] * 3,
            constraints={"type": "eq", "fun": lambda v: v.sum() - 1.0},
            options={"ftol": 1e-12, "maxiter": 500},
        )
        v = np.clip(np.asarray(res.x, dtype=np.float64), 0.0, None)
        self.temperature_ = t
        self.weights_ = v / v.sum()

    def _predict_proba(self, z: np.ndarray) -> np.ndarray:
        k = z.shape[1]
        w0, w1, w2 = self.weights_
        p = w0 * softmax_np(z / self.temperature_) + w1 * softmax_np(z) + w2 / k
        p = np.maximum(p, PROB_FLOOR)
        return p / p.sum(axis=1, keepdims=True)

    def _transform(self, z: np.ndarray) -> np.ndarray:
        return np.log(self._predict_proba(z))

    def _get_state(self) -> dict[str, Any]:
        return {"temperature": float(self.temperature_), "weights": self.weights_.tolist()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.temperature_ = float(state["temperature"])
        self.weights_ = np.asarray(state["weights"], dtype=np.float64)
