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
from threadpoolctl import threadpool_limits

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
    # Single-threaded BLAS: these are small mat-muls, and threads only contend on a busy CPU.
    with threadpool_limits(1, user_api="blas"):
        res = minimize(
            fun,
            x0,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iter, "gtol": 1e-9, "ftol": 1e-13, "maxcor": 20},
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

    def __init__(self, reg: float = 0.0, max_iter: int = 1000) -> None:
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
    (off-diagonal and intercept regularisation; the diagonal is free), started from TS.

    The right strength grows with ``K^2 / N`` (``K^2`` parameters), so by default it is chosen as
    Kull et al. do, by cross-validation: with ``cv_folds >= 2`` the value ``reg_lambda = reg_mu``
    is picked from ``reg_grid`` by the summed held-out NLL over stratified folds (fixed seed;
    CV fits capped at ``cv_max_iter`` L-BFGS iterations), then the model is refitted on the whole
    split. The grid is walked from the strongest value down and stops once the held-out NLL has
    been worse than the best so far twice in a row (weaker values only overfit more). ``cv_folds=0`` uses ``reg_lambda`` and ``reg_mu`` as
    given. (With CV, a sample of weight 2 and a duplicated sample can land in different folds, so
    the weight/duplication equivalence holds only with ``cv_folds=0``.)
    """

    _hparams = ("reg_lambda", "reg_mu", "cv_folds", "reg_grid", "max_iter", "cv_max_iter")

    def __init__(
        self,
        reg_lambda: float = 1e-2,
        reg_mu: float = 1e-2,
        cv_folds: int = 3,
        reg_grid: tuple[float, ...] | list[float] = (1e-2, 1e-1, 1.0, 10.0, 1e2, 1e3, 1e4),
        max_iter: int = 500,
        cv_max_iter: int = 150,
    ):
        super().__init__()
        if not (reg_lambda >= 0 and reg_mu >= 0):
            raise GencalInputError(
                f"reg_lambda and reg_mu must be >= 0, got {reg_lambda}, {reg_mu}"
            )
        if int(cv_folds) == 1 or int(cv_folds) < 0:
            raise GencalInputError(f"cv_folds: 0 (no CV) or >= 2, got {cv_folds}")
        grid = [float(v) for v in reg_grid]
        if int(cv_folds) >= 2 and (not grid or min(grid) < 0):
            raise GencalInputError("reg_grid: need a non-empty list of values >= 0")
        self.reg_lambda = float(reg_lambda)
        self.reg_mu = float(reg_mu)
        self.cv_folds = int(cv_folds)
        self.reg_grid = grid
        self.max_iter = int(max_iter)
        self.cv_max_iter = int(cv_max_iter)

    def _fit_one(self, x, y, w, t0, lam_, mu_, max_iter=None):
        n, k = x.shape
        ww = _normalised_weight(w, n)
        off = 1.0 - np.eye(k)
        lam = lam_ / (k * (k - 1))
        mu = mu_ / k

        def fun(p: np.ndarray) -> tuple[float, np.ndarray]:
            wm, b = p[: k * k].reshape(k, k), p[k * k :]
            loss, g = _nll_grad_logits(x @ wm.T + b, y, ww)
            wo = wm * off
            loss += lam * float((wo * wo).sum()) + mu * float(b @ b)
            gw = g.T @ x + 2 * lam * wo
            gb = g.sum(axis=0) + 2 * mu * b
            return loss, np.concatenate([gw.ravel(), gb])

        p0 = np.concatenate([(np.eye(k) / t0).ravel(), np.zeros(k)])
        p = _lbfgs(fun, p0, self.max_iter if max_iter is None else max_iter)
        return p[: k * k].reshape(k, k), p[k * k :]

    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        x = log_softmax_np(z)
        t0 = fit_temperature(TemperatureProblem(z, y, w))
        lam, mu = self.reg_lambda, self.reg_mu
        if self.cv_folds >= 2:
            folds = _stratified_folds(y, self.cv_folds)
            scores: dict[float, float] = {}
            worse = 0
            for reg in sorted(set(self.reg_grid), reverse=True):  # strongest (fastest) first
                total = 0.0
                for f in range(self.cv_folds):
                    tr, te = folds != f, folds == f
                    wm, b = self._fit_one(
                        x[tr], y[tr], None if w is None else w[tr], t0, reg, reg, self.cv_max_iter
                    )
                    ls = log_softmax_np(x[te] @ wm.T + b)
                    wte = np.ones(int(te.sum())) if w is None else w[te]
                    total += -float(wte @ ls[np.arange(len(wte)), y[te]])
                worse = worse + 1 if scores and total > min(scores.values()) else 0
                scores[reg] = total
                if worse >= 2:  # held-out NLL rose twice in a row: weaker values overfit more
                    break
            lam = mu = min(scores, key=scores.__getitem__)
            self.cv_scores_ = scores
        self.reg_lambda_, self.reg_mu_ = lam, mu
        self.weight_, self.bias_ = self._fit_one(x, y, w, t0, lam, mu)

    def _transform(self, z: np.ndarray) -> np.ndarray:
        return log_softmax_np(z) @ self.weight_.T + self.bias_

    def _predict_proba(self, z: np.ndarray) -> np.ndarray:
        return softmax_np(self._transform(z))

    def _get_state(self) -> dict[str, Any]:
        return {
            "weight": self.weight_.tolist(),
            "bias": self.bias_.tolist(),
            "reg_lambda": self.reg_lambda_,
            "reg_mu": self.reg_mu_,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self.weight_ = np.asarray(state["weight"], dtype=np.float64)
        self.bias_ = np.asarray(state["bias"], dtype=np.float64)
        self.reg_lambda_ = float(state["reg_lambda"])
        self.reg_mu_ = float(state["reg_mu"])


def _stratified_folds(y: np.ndarray, n_folds: int, seed: int = 0) -> np.ndarray:
    """Fold index per sample: a seeded shuffle, then round-robin within each class."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    order = perm[np.argsort(y[perm], kind="stable")]
    folds = np.empty(len(y), dtype=np.int64)
    ys = y[order]
    start = np.searchsorted(ys, ys, side="left")  # first position of each sample's class
    folds[order] = (np.arange(len(y)) - start) % n_folds
    return folds
