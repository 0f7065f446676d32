"""Numerics shared by the temperature calibrators (TS, grid TS, ATS).

Notation: ``z' = z - max_k z`` (row-shifted logits, so ``z'_max = 0`` and ``exp(beta z')`` never
overflows for ``beta = 1/T > 0``); ``p(beta) = softmax(beta z)``.

Mean NLL at temperature ``T = 1/beta``: ``NLL(beta) = mean_i[logsumexp(beta z_i) - beta z_{i,y_i}]``.
Its derivative ``g(beta) = dNLL/dbeta = mean_i[E_{p_i}[z_i] - z_{i,y_i}]`` is non-decreasing in
``beta`` (``dg/dbeta = mean_i Var_{p_i}(z_i) >= 0``: NLL is convex in ``1/T``). In ``u = log T``,
``dNLL/du = -beta g(beta)``, so NLL is *not* convex in ``log T`` (it is quasi-convex) but its
stationary point is the unique root of ``h(u) = g(exp(-u))``, a non-increasing function of ``u``.
All temperature fits here are 1-D root finding of such a non-increasing ``h``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import brentq

__all__ = [
    "TemperatureProblem",
    "ece_equal_width",
    "solve_nonincreasing_root",
]


class TemperatureProblem:
    """Pre-shifted logits of a (sub)set with the quantities a temperature fit needs.

    ``nll_grad(beta)`` is the weighted sum (not the mean) of ``E_p[z'] - z'_y`` and
    ``conf_gap(beta)`` the weighted sum of ``conf(beta) - correct``; both non-decreasing in
    ``beta``. ``weight`` is the total weight.
    """

    def __init__(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        zs = z - z.max(axis=1, keepdims=True)
        self.zs = zs
        self.zy = np.take_along_axis(zs, y[:, None], axis=1)[:, 0]
        self.correct = (np.argmax(z, axis=1) == y).astype(np.float64)
        self.w = w
        self.weight = float(len(y) if w is None else w.sum())

    def _sum(self, v: np.ndarray) -> float:
        return float(v.sum() if self.w is None else v @ self.w)

    def nll_grad(self, beta: float) -> float:
        e = np.exp(self.zs * beta)
        ez = np.einsum("ij,ij->i", e, self.zs) / e.sum(axis=1)
        return self._sum(ez - self.zy)

    def conf_gap(self, beta: float) -> float:
        conf = 1.0 / np.exp(self.zs * beta).sum(axis=1)
        return self._sum(conf - self.correct)

    def nll(self, beta: float) -> float:
        """Weighted sum of per-sample NLL at ``T = 1/beta``."""
        s = self.zs * beta
        lse = np.log(np.exp(s).sum(axis=1))
        return self._sum(lse - self.zy * beta)


def solve_nonincreasing_root(
    h: Callable[[float], float],
    lo: float,
    hi: float,
    start: float = 0.0,
    xtol: float = 1e-10,
) -> float:
    """Root in ``[lo, hi]`` of a non-increasing ``h(u)``, clipped to the interval.

    The bracket starts at ``start +- 0.5`` and doubles its width (within ``[lo, hi]``) until
    ``h`` changes sign; then :func:`scipy.optimize.brentq`. Returns ``lo`` if ``h(lo) <= 0``
    (the optimum lies at or below ``lo``), ``hi`` if ``h(hi) >= 0``, and ``start`` (clipped) if
    ``h`` is identically 0 (e.g. logits that are constant across classes).
    """
    start = min(max(start, lo), hi)
    a, b = max(lo, start - 0.5), min(hi, start + 0.5)
    ha, hb = h(a), h(b)
    width = 1.0
    while ha > 0 and hb > 0 and b < hi:
        width *= 2.0
        a, ha = b, hb
        b = min(hi, b + width)
        hb = h(b)
    while ha < 0 and hb < 0 and a > lo:
        width *= 2.0
        b, hb = a, ha
        a = max(lo, a - width)
        ha = h(a)
    if ha == 0 and hb == 0:
        return start
    if ha <= 0:
        return a  # h <= 0 already at the lower end: optimum at lo
    if hb >= 0:
        return b  # h >= 0 at the upper end: optimum at hi
    return float(brentq(h, a, b, xtol=xtol, rtol=4 * np.finfo(float).eps, maxiter=200))


def ece_equal_width(
    conf: np.ndarray, correct: np.ndarray, w: np.ndarray | None, n_bins: int = 15
) -> float:
    """Top-label ECE (L1) with ``n_bins`` equal-width bins ``(lo, hi]`` (0 goes to bin 0).

    Weighted by ``w`` when given; empty bins contribute nothing. Same binning as the
    focal-calibration code (Guo et al. 2017 / Mukhoti et al. 2020).
    """
    idx = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    ww = np.ones_like(conf) if w is None else w
    sc = np.bincount(idx, weights=ww * conf, minlength=n_bins)
    sa = np.bincount(idx, weights=ww * correct, minlength=n_bins)
    return float(np.abs(sc - sa).sum() / ww.sum())
