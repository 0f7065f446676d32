"""Dirichlet calibration with ODIR regularisation (``dirichlet``, Kull et al., NeurIPS 2019).

A full linear map of the log-probabilities, fitted by L-BFGS on the regularised NLL, started
from plain temperature scaling. It can change the argmax.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from gencal.calibration.arrays import log_softmax_np, softmax_np
from gencal.calibration.base import Calibrator, Inputs
from gencal.calibration.lbfgs import minimize_lbfgs, nll_and_grad, normalised_weights
from gencal.calibration.params import Constraint, Interval, Options, SequenceOf
from gencal.calibration.registry import register_calibrator
from gencal.calibration.temperature import TemperatureProblem, fit_temperature

__all__ = ["DirichletCalibration"]


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

    Args:
        reg_lambda: off-diagonal strength (used as given when ``cv_folds=0``).
        reg_mu: intercept strength (used as given when ``cv_folds=0``).
        cv_folds: 0 (no cross-validation) or the number of stratified folds.
        reg_grid: candidate strengths for the cross-validation.
        max_iter: L-BFGS iteration cap of the final fit.
        cv_max_iter: L-BFGS iteration cap of the cross-validation fits.
        inputs: ``"logits"`` (default) or ``"probs"``: what ``fit`` / ``transform`` receive.
        balanced: fit with class-balanced sample weights (times any ``sample_weight``).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(300, 3)) * 3
        >>> cal = DirichletCalibration(cv_folds=0).fit(z, z.argmax(1))
        >>> cal.weight_.shape
        (3, 3)
    """

    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "reg_lambda": [Interval(float, 0, None, "left")],
        "reg_mu": [Interval(float, 0, None, "left")],
        "cv_folds": [Options(0), Interval(int, 2, None, "left")],
        "reg_grid": [SequenceOf(Interval(float, 0, None, "left"))],
        "max_iter": [Interval(int, 1, None, "left")],
        "cv_max_iter": [Interval(int, 1, None, "left")],
    }

    def __init__(
        self,
        reg_lambda: float = 1e-2,
        reg_mu: float = 1e-2,
        cv_folds: int = 3,
        reg_grid: tuple[float, ...] | list[float] = (1e-2, 1e-1, 1.0, 10.0, 1e2, 1e3, 1e4),
        max_iter: int = 500,
        cv_max_iter: int = 150,
        *,
        inputs: Inputs = "logits",
        balanced: bool = False,
    ) -> None:
        super().__init__(inputs=inputs, balanced=balanced)
        self.reg_lambda = reg_lambda
        self.reg_mu = reg_mu
        self.cv_folds = cv_folds
        self.reg_grid = reg_grid
        self.max_iter = max_iter
        self.cv_max_iter = cv_max_iter

    def _fit_one(self, x, y, w, t0, lam_, mu_, max_iter=None):
        n, k = x.shape
        ww = normalised_weights(w, n)
        off = 1.0 - np.eye(k)
        lam = lam_ / (k * (k - 1))
        mu = mu_ / k

        def fun(p: np.ndarray) -> tuple[float, np.ndarray]:
            wm, b = p[: k * k].reshape(k, k), p[k * k :]
            loss, g = nll_and_grad(x @ wm.T + b, y, ww)
            wo = wm * off
            loss += lam * float((wo * wo).sum()) + mu * float(b @ b)
            gw = g.T @ x + 2 * lam * wo
            gb = g.sum(axis=0) + 2 * mu * b
            return loss, np.concatenate([gw.ravel(), gb])

        p0 = np.concatenate([(np.eye(k) / t0).ravel(), np.zeros(k)])
        p = minimize_lbfgs(fun, p0, self.max_iter if max_iter is None else max_iter)
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
