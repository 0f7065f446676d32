"""Root finding for non-increasing functions of one variable (the temperature fits).

Every temperature fit in gencal.calibration is the root of a non-increasing ``h(u)`` in
``u = log T`` (see :mod:`gencal.calibration.temperature`). Both solvers return ``lo`` when
``h(lo) <= 0``, ``hi`` when ``h(hi) >= 0`` and the start point when ``h`` is identically 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import brentq

__all__ = ["solve_nonincreasing_root", "solve_root_newton"]


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

    Args:
        hd: ``u -> (h(u), h'(u))``.
        lo: lower end of the search interval.
        hi: upper end.
        start: first point tried (clipped into ``[lo, hi]``).
        xtol: absolute tolerance on the root.
        maxiter: maximum number of evaluations.

    Returns:
        The root, or the interval end where the root lies beyond it.

    Example:
        >>> round(solve_root_newton(lambda u: (1.0 - u, -1.0), -5.0, 5.0), 12)
        1.0
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

    Args:
        h: a non-increasing function.
        lo: lower end of the search interval.
        hi: upper end.
        start: centre of the first bracket (clipped into ``[lo, hi]``).
        xtol: absolute tolerance on the root.

    Returns:
        The root, or the interval end where the root lies beyond it.

    Example:
        >>> round(solve_nonincreasing_root(lambda u: 1.0 - u, -5.0, 5.0), 9)
        1.0
        >>> solve_nonincreasing_root(lambda u: -1.0, -5.0, 5.0)  # optimum below lo
        -5.0
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
