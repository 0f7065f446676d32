"""Fitting linear maps of the logits by L-BFGS on the NLL (vector scaling, Dirichlet).

Both minimise the (weighted) mean NLL plus an optional L2 penalty with
:func:`scipy.optimize.minimize` (``L-BFGS-B``, analytic gradients, float64).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from gencal.calibration.arrays import log_softmax_np

__all__ = ["minimize_lbfgs", "nll_and_grad", "normalised_weights"]


def nll_and_grad(out: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted mean NLL of logits ``out`` and its gradient w.r.t. ``out`` (``w`` sums to 1).

    Args:
        out: logits.
        y: integer labels.
        w: weights summing to 1.

    Shape:
        ``out``: ``[N, K]``; ``y``, ``w``: ``[N]``; the gradient ``[N, K]``.

    Returns:
        ``(loss, gradient)``.

    Example:
        >>> loss, g = nll_and_grad(np.zeros((1, 2)), np.array([0]), np.ones(1))
        >>> round(loss, 6), g.tolist()
        (0.693147, [[-0.5, 0.5]])
    """
    ls = log_softmax_np(out)
    n = len(y)
    loss = -float(w @ ls[np.arange(n), y])
    g = np.exp(ls)
    g[np.arange(n), y] -= 1.0
    g *= w[:, None]
    return loss, g


def minimize_lbfgs(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray, max_iter: int
) -> np.ndarray:
    """Minimise ``fun`` (returning value and gradient) by L-BFGS-B from ``x0``.

    Args:
        fun: ``x -> (f(x), grad f(x))``.
        x0: start point.
        max_iter: iteration cap.

    Returns:
        The minimiser (float64).

    Example:
        >>> x = minimize_lbfgs(lambda x: (float((x - 3) @ (x - 3)), 2 * (x - 3)), np.zeros(2), 50)
        >>> np.round(x, 6).tolist()
        [3.0, 3.0]
    """
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


def normalised_weights(w: np.ndarray | None, n: int) -> np.ndarray:
    """Weights scaled to sum to 1 (uniform ``1/n`` when ``w`` is ``None``).

    Args:
        w: non-negative weights or ``None``.
        n: number of samples.

    Example:
        >>> normalised_weights(np.array([1.0, 3.0]), 2).tolist()
        [0.25, 0.75]
    """
    ww = np.ones(n) if w is None else w.astype(np.float64)
    return ww / ww.sum()
