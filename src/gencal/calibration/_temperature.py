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
    "solve_root_newton",
]


class TemperatureProblem:
    """Pre-shifted logits of a (sub)set with the quantities a temperature fit needs.

    ``nll_grad(beta)`` is the weighted sum (not the mean) of ``E_p[z'] - z'_y`` and
    ``conf_gap(beta)`` the weighted sum of ``conf(beta) - correct``; both non-decreasing in
    ``beta``. The ``*_and_slope`` variants also return the derivative w.r.t. ``beta``
    (``sum w Var_p(z')`` and ``sum w conf * (-E_p[z'])``, both >= 0). ``weight`` is the total
    weight. One evaluation costs a few passes over ``[N, K]`` (one ``exp``), in place; row sums
    use ``einsum`` (single-threaded SIMD; a BLAS mat-vec is slower under CPU contention).
    """

    def __init__(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        zs = z - z.max(axis=1, keepdims=True)
        self.zs = zs
        self.zy = np.take_along_axis(zs, y[:, None], axis=1)[:, 0]
        self.correct = (np.argmax(z, axis=1) == y).astype(np.float64)
        self.w = w
        self.weight = float(len(y) if w is None else w.sum())
        self._buf = np.empty_like(zs)

    def _sum(self, v: np.ndarray) -> float:
        return float(v.sum() if self.w is None else v @ self.w)

    def _moments(self, beta: float, second: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        e = np.multiply(self.zs, beta, out=self._buf)
        np.exp(e, out=e)
        s = np.einsum("ij->i", e)
        np.multiply(e, self.zs, out=e)
        m1 = (np.einsum("ij->i", e)) / s
        if not second:
            return s, m1, m1
        np.multiply(e, self.zs, out=e)
        m2 = (np.einsum("ij->i", e)) / s
        return s, m1, m2

    def nll_grad(self, beta: float) -> float:
        _, m1, _ = self._moments(beta, False)
        return self._sum(m1 - self.zy)

    def nll_grad_and_slope(self, beta: float) -> tuple[float, float]:
        _, m1, m2 = self._moments(beta, True)
        return self._sum(m1 - self.zy), self._sum(np.maximum(m2 - m1 * m1, 0.0))

    def conf_gap(self, beta: float) -> float:
        s, _, _ = self._moments(beta, False)
        return self._sum(1.0 / s - self.correct)

    def conf_gap_and_slope(self, beta: float) -> tuple[float, float]:
        s, m1, _ = self._moments(beta, False)
        conf = 1.0 / s
        return self._sum(conf - self.correct), self._sum(-conf * m1)

    def nll(self, beta: float) -> float:
        """Weighted sum of per-sample NLL at ``T = 1/beta``."""
        s = self.zs * beta
        lse = np.log(np.exp(s).sum(axis=1))
        return self._sum(lse - self.zy * beta)


def solve_root_newton(
    hd: Callable[[float], tuple[float, float]],
    lo: float,
    hi: float,
    start: float = 0.0,
    xtol: float = 1e-10,
    maxiter: int = 100,
) -> float:
    """Root in ``[lo, hi]`` of a non-increasing ``h(u)`` by safeguarded Newton.

    ``hd(u)`` returns ``(h(u), h'(u))`` with ``h' <= 0``. Newton steps (at most 2 long) are kept
    inside the current sign bracket; a step that would leave it bisects instead. Returns ``lo``
    if ``h(lo) <= 0``, ``hi`` if ``h(hi) >= 0``, ``start`` (clipped) if ``h`` is identically 0,
    otherwise a point within ``xtol`` of the root. Same contract as
    :func:`solve_nonincreasing_root` (Brent), typically in 4-6 evaluations.
    """
    u = min(max(start, lo), hi)
    a, b = lo, hi  # the root lies in [a, b]
    a_seen = b_seen = False  # whether h was evaluated at a / b
    for it in range(maxiter):
        h, d = hd(u)
        if h == 0.0:
            return u
        if h > 0:
            if u >= hi:
                return hi
            a, a_seen = u, True
        else:
            if u <= lo:
                return lo
            b, b_seen = u, True
        if a_seen and b_seen and b - a <= xtol:
            return 0.5 * (a + b)
        step = -h / d if d < 0 else (2.0 if h > 0 else -2.0)
        step = min(max(step, -2.0), 2.0)
        new = u + step
        if it >= 40:  # pathological: plain bisection (guaranteed progress)
            new = 0.5 * (a + b) if (a_seen and b_seen) else (hi if h > 0 else lo)
        elif new >= b:
            new = 0.5 * (u + b) if b_seen else b
        elif new <= a:
            new = 0.5 * (u + a) if a_seen else a
        if abs(new - u) <= xtol:
            return new
        u = new
    return u


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
