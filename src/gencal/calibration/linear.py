"""Vector scaling and Dirichlet calibration (ODIR): linear maps fitted by L-BFGS on the NLL.

Both minimise the (weighted) mean NLL plus an optional L2 penalty with
:func:`scipy.optimize.minimize` (``L-BFGS-B``, analytic gradients, float64), started from plain
temperature scaling (``w = 1/T``), so they are at least as good as TS on the calibration split.
Unlike temperature methods, both can change the argmax.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize

from gencal._checks import GencalInputError
from gencal.calibration._temperature import TemperatureProblem
from gencal.calibration.base import (
    Calibrator,
    log_softmax_np,
    register_calibrator,
    softmax_np,
)
from gencal.calibration.temperature import fit_temperature

__all__ = ["DirichletCalibration", "VectorScaling"]


def _nll_grad_logits(out: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted mean NLL of logits ``out`` and its gradient w.r.t. ``out`` (``w`` sums to 1)."""
    ls = log_softmax_np(out)
    n = len(y)
    loss = -float(w @ ls[np.arange(n), y])
    g = np.exp(ls)
    g[np.arange(n), y] -= 1.0
    g *= w[:, None]
    return loss, g


def _lbfgs(fun, x0: np.ndarray, max_iter: int) -> np.ndarray:
    res = minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": 1e-10, "ftol": 1e-15, "maxcor": 20},
    )
    return np.asarray(res.x, dtype=np.float64)


def _normalised_weight(w: np.ndarray | None, n: int) -> np.ndarray:
    ww = np.ones(n) if w is None else w.astype(np.float64)
    return ww / ww.sum()


@register_calibrator("vector")
class VectorScaling(Calibrator):
    """Vector scaling (Guo et al. 2017): ``z'_k = a_k z_k + b_k`` (per-class scale and bias).

    Fitted on the weighted mean NLL plus ``reg * mean_k(b_k^2)`` (default ``reg=0``: the plain
    method; the bias is then defined up to a constant, which softmax ignores).
    """

    _hparams = ("reg", "max_iter")

    def __init__(self, reg: float = 0.0, max_iter: int = 2000) -> None:
        super().__init__()
        if not reg >= 0:
            raise GencalInputError(f"reg: must be >= 0, got {reg}")
        self.reg = float(reg)
        self.max_iter = int(max_iter)

    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        n, k = z.shape
        ww = _normalised_weight(w, n)
        t0 = fit_temperature(TemperatureProblem(z, y, w))

        def fun(p: np.ndarray) -> tuple[float, np.ndarray]:
            a, b = p[:k], p[k:]
            loss, g = _nll_grad_logits(z * a + b, y, ww)
            ga = np.einsum("ik,ik->k", g, z)
            gb = g.sum(axis=0) + 2 * self.reg * b / k
            return loss + self.reg * float(b @ b) / k, np.concatenate([ga, gb])

        p = _lbfgs(fun, np.concatenate([np.full(k, 1.0 / t0), np.zeros(k)]), self.max_iter)
        self.scale_, self.bias_ = p[:k], p[k:]

    def _transform(self, z: np.ndarray) -> np.ndarray:
        return z * self.scale_ + self.bias_

    def _get_state(self) -> dict[str, Any]:
        return {"scale": self.scale_.tolist(), "bias": self.bias_.tolist()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.scale_ = np.asarray(state["scale"], dtype=np.float64)
        self.bias_ = np.asarray(state["bias"], dtype=np.float64)


@register_calibrator("dirichlet")
class DirichletCalibration(Calibrator):
    """Dirichlet calibration with ODIR regularisation (Kull et al., NeurIPS 2019).

    ``z' = W log softmax(z) + b`` with a full ``K x K`` matrix ``W``, fitted on
    ``mean NLL + reg_lambda / (K (K - 1)) * sum_{i != j} W_ij^2 + reg_mu / K * sum_j b_j^2``
    (off-diagonal and intercept regularisation; the diagonal is free). Defaults
    ``reg_lambda = reg_mu = 1e-2`` are a middle-of-the-road choice; Kull et al. pick them by
    cross-validation on the calibration split, which you should do for serious use.
    """

    _hparams = ("reg_lambda", "reg_mu", "max_iter")

    def __init__(self, reg_lambda: float = 1e-2, reg_mu: float = 1e-2, max_iter: int = 2000):
        super().__init__()
        if not (reg_lambda >= 0 and reg_mu >= 0):
            raise GencalInputError(
                f"reg_lambda and reg_mu must be >= 0, got {reg_lambda}, {reg_mu}"
            )
        self.reg_lambda = float(reg_lambda)
        self.reg_mu = float(reg_mu)
        self.max_iter = int(max_iter)

    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        n, k = z.shape
        ww = _normalised_weight(w, n)
        x = log_softmax_np(z)
        t0 = fit_temperature(TemperatureProblem(z, y, w))
        off = 1.0 - np.eye(k)
        lam = self.reg_lambda / (k * (k - 1))
        mu = self.reg_mu / k

        def fun(p: np.ndarray) -> tuple[float, np.ndarray]:
            wm, b = p[: k * k].reshape(k, k), p[k * k :]
            loss, g = _nll_grad_logits(x @ wm.T + b, y, ww)
            wo = wm * off
            loss += lam * float((wo * wo).sum()) + mu * float(b @ b)
            gw = g.T @ x + 2 * lam * wo
            gb = g.sum(axis=0) + 2 * mu * b
            return loss, np.concatenate([gw.ravel(), gb])

        p0 = np.concatenate([(np.eye(k) / t0).ravel(), np.zeros(k)])
        p = _lbfgs(fun, p0, self.max_iter)
        self.weight_, self.bias_ = p[: k * k].reshape(k, k), p[k * k :]

    def _transform(self, z: np.ndarray) -> np.ndarray:
        return log_softmax_np(z) @ self.weight_.T + self.bias_

    def _predict_proba(self, z: np.ndarray) -> np.ndarray:
        return softmax_np(self._transform(z))

    def _get_state(self) -> dict[str, Any]:
        return {"weight": self.weight_.tolist(), "bias": self.bias_.tolist()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.weight_ = np.asarray(state["weight"], dtype=np.float64)
        self.bias_ = np.asarray(state["bias"], dtype=np.float64)
