"""Vector scaling (``vector``, Guo et al. 2017): a per-class scale and bias of the logits.

Fitted by L-BFGS on the NLL, started from plain temperature scaling (``a = 1/T``, ``b = 0``),
so it is at least as good as TS on the calibration split. It can change the argmax.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from gencal.calibration.base import Calibrator, Inputs
from gencal.calibration.lbfgs import minimize_lbfgs, nll_and_grad, normalised_weights
from gencal.calibration.params import Constraint, Interval
from gencal.calibration.registry import register_calibrator
from gencal.calibration.temperature import TemperatureProblem, fit_temperature

__all__ = ["VectorScaling"]


@register_calibrator("vector")
class VectorScaling(Calibrator):
    """Vector scaling (Guo et al. 2017): ``z'_k = a_k z_k + b_k`` (per-class scale and bias).

    Fitted on the weighted mean NLL plus ``reg * mean_k(b_k^2)`` (default ``reg=0``: the plain
    method; the bias is then defined up to a constant, which softmax ignores).

    Args:
        reg: L2 penalty on the biases.
        max_iter: L-BFGS iteration cap.
        inputs: ``"logits"`` (default) or ``"probs"``: what ``fit`` / ``transform`` receive.
        balanced: fit with class-balanced sample weights (times any ``sample_weight``).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(300, 3))
        >>> y = (z + [1.0, 0.0, 0.0]).argmax(1)  # class 0 is under-predicted by the logits
        >>> bool(VectorScaling().fit(z, y).bias_[0] > 0)
        True
    """

    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "reg": [Interval(float, 0, None, "left")],
        "max_iter": [Interval(int, 1, None, "left")],
    }

    def __init__(
        self,
        reg: float = 0.0,
        max_iter: int = 1000,
        *,
        inputs: Inputs = "logits",
        balanced: bool = False,
    ) -> None:
        super().__init__(inputs=inputs, balanced=balanced)
        self.reg = reg
        self.max_iter = max_iter

    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        n, k = z.shape
        ww = normalised_weights(w, n)
        t0 = fit_temperature(TemperatureProblem(z, y, w))

        def fun(p: np.ndarray) -> tuple[float, np.ndarray]:
            a, b = p[:k], p[k:]
            loss, g = nll_and_grad(z * a + b, y, ww)
            ga = np.einsum("ik,ik->k", g, z)
            gb = g.sum(axis=0) + 2 * self.reg * b / k
            return loss + self.reg * float(b @ b) / k, np.concatenate([ga, gb])

        p = minimize_lbfgs(fun, np.concatenate([np.full(k, 1.0 / t0), np.zeros(k)]), self.max_iter)
        self.scale_, self.bias_ = p[:k], p[k:]

    def _transform(self, z: np.ndarray) -> np.ndarray:
        return z * self.scale_ + self.bias_

    def _get_state(self) -> dict[str, Any]:
        return {"scale": self.scale_.tolist(), "bias": self.bias_.tolist()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.scale_ = np.asarray(state["scale"], dtype=np.float64)
        self.bias_ = np.asarray(state["bias"], dtype=np.float64)
