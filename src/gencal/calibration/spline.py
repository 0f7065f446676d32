"""Spline recalibration of the top-label confidence (``spline``; Gupta et al. 2021).

On the calibration split, sort the samples by raw top-label confidence ``c`` (by its log-odds
``x``, which orders the same way and keeps ties at a float confidence of 1 apart), and let
``t_i`` be the fraction of the (weighted) split up to sample ``i``. The cumulative gap

    G(t_i) = (1 / W) sum_{j <= i} w_j (correct_j - c_j)

is flat where the model is calibrated; its slope ``dG/dt`` is the local accuracy minus the local
confidence. A natural cubic spline ``S`` with ``n_knots`` knots equally spaced in ``t`` is fitted
to ``G`` by least squares (one point per distinct confidence, weighted by its sample weight) (as in the authors' code: the spline is fitted to cumulative accuracy
minus cumulative confidence against the fractional rank), and differentiated:

    c_hat = c + S'(t(c)),

where ``t(c)`` is the fraction of the calibration split with log-odds at or below the sample's
(interpolated on 257 stored quantiles). ``c_hat`` is clipped to ``[c_lo, 1 - PROB_FLOOR]`` with
``c_lo = p_2 / (1 - c + p_2)`` (``p_2`` the runner-up probability; raised by a relative 1e-9), the
smallest value that keeps the predicted class on top; the argmax therefore never changes.

The rest of the distribution: the other classes keep their proportions, rescaled to the
remaining mass, ``p_k_hat = p_k (1 - c_hat) / (1 - c)`` (uniform over them if ``1 - c`` is 0).
``transform`` returns ``log(p_hat)`` (probabilities floored at ``PROB_FLOOR``, renormalised).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from gencal.calibration.arrays import softmax_np
from gencal.calibration.ats import top_log_odds
from gencal.calibration.base import PROB_FLOOR, Calibrator, Inputs
from gencal.calibration.params import Constraint, Interval
from gencal.calibration.registry import register_calibrator

__all__ = ["SplineCalibration", "natural_cubic_basis"]

#: Number of stored quantiles of the calibration log-odds (maps a new sample to its rank ``t``).
N_QUANTILES = 257


def natural_cubic_basis(t: np.ndarray, knots: np.ndarray, derivative: bool = False) -> np.ndarray:
    """Natural cubic spline basis (Hastie, Tibshirani & Friedman, ESL eq. 5.4-5.5), or its derivative.

    ``N_1 = 1``, ``N_2 = t``, ``N_{j+2} = d_j - d_{m-1}`` with
    ``d_j(t) = ((t - k_j)_+^3 - (t - k_m)_+^3) / (k_m - k_j)``; linear beyond the outer knots.

    Args:
        t: evaluation points.
        knots: ``m >= 2`` increasing knots.
        derivative: return ``dN/dt`` instead of ``N``.

    Shape:
        ``t``: ``[N]``; returns ``[N, m]``.

    Example:
        >>> b = natural_cubic_basis(np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.5, 1.0]))
        >>> b.shape
        (3, 3)
    """
    t = np.asarray(t, dtype=np.float64)
    m = len(knots)
    cols = [
        np.zeros_like(t) if derivative else np.ones_like(t),
        np.ones_like(t) if derivative else t,
    ]

    def d(j: int) -> np.ndarray:
        a = np.maximum(t - knots[j], 0.0)
        b = np.maximum(t - knots[-1], 0.0)
        if derivative:
            return 3 * (a**2 - b**2) / (knots[-1] - knots[j])
        return (a**3 - b**3) / (knots[-1] - knots[j])

    last = d(m - 2)
    cols += [d(j) - last for j in range(m - 2)]
    return np.stack(cols, axis=1)


@register_calibrator("spline")
class SplineCalibration(Calibrator):
    """Top-label spline recalibration (natural cubic spline on the cumulative gap).

    Args:
        n_knots: number of spline knots, equally spaced in the fractional rank ``t``
            (6 in the authors' code).
        inputs: ``"logits"`` (default) or ``"probs"`` (see :class:`Calibrator`).
        balanced: fit with class-balanced sample weights (see :class:`Calibrator`).

    Shape:
        ``fit(logits [N, K], labels [N])``; ``predict_proba(logits [M, K]) -> [M, K]``.

    Fitted attributes: ``knots_``, ``coef_`` (spline coefficients of the natural basis),
    ``x_quantiles_`` and ``t_quantiles_`` (the rank map).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(2000, 3)) * 3
        >>> p = np.exp(z / 2) / np.exp(z / 2).sum(1, keepdims=True)
        >>> y = np.array([rng.choice(3, p=r) for r in p])
        >>> cal = SplineCalibration().fit(z, y)
        >>> q = cal.predict_proba(z)
        >>> bool((q.argmax(1) == z.argmax(1)).all() and q.max(1).mean() < p.max(1).mean() + 0.02)
        True
    """

    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "n_knots": [Interval(int, 2, None, "left")],
    }

    def __init__(
        self, n_knots: int = 6, *, inputs: Inputs = "logits", balanced: bool = False
    ) -> None:
        super().__init__(inputs=inputs, balanced=balanced)
        self.n_knots = n_knots

    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        ww = np.ones(len(y)) if w is None else w
        keep = ww > 0
        x_all = top_log_odds(z[keep])
        correct_all = (z[keep].argmax(axis=1) == y[keep]).astype(np.float64)
        ww = ww[keep] / ww[keep].sum()
        # one point per distinct log-odds (ties form one step of the cumulative curves), so a
        # sample of weight 2 acts exactly like a duplicated sample
        x, inv = np.unique(x_all, return_inverse=True)
        wg = np.bincount(inv, weights=ww)
        conf = 1.0 / (1.0 + np.exp(-x))
        acc = np.bincount(inv, weights=ww * correct_all)
        t = np.cumsum(wg)
        gap = np.cumsum(acc - wg * conf)
        knots = np.linspace(0.0, 1.0, self.n_knots)
        sw = np.sqrt(wg)[:, None]
        coef, *_ = np.linalg.lstsq(natural_cubic_basis(t, knots) * sw, gap * sw[:, 0], rcond=None)
        tq = np.linspace(0.0, 1.0, N_QUANTILES)
        self.knots_ = knots
        self.coef_ = coef
        self.t_quantiles_ = tq
        self.x_quantiles_ = np.interp(tq, t, x)

    def calibrated_confidence(self, log_odds: np.ndarray) -> np.ndarray:
        """``c + S'(t(x))`` before clipping, for raw top-label log-odds ``x``.

        Args:
            log_odds: raw top-label log-odds ``x``, shape ``[N]``.

        Returns:
            The recalibrated top-label confidences ``[N]`` (not yet clipped).

        Example:
            >>> import numpy as np
            >>> rng = np.random.default_rng(0)
            >>> z, y = rng.normal(size=(500, 3)) * 2, rng.integers(0, 3, 500)
            >>> SplineCalibration().fit(z, y).calibrated_confidence(np.array([0.0, 3.0])).shape
            (2,)
        """
        x = np.asarray(log_odds, dtype=np.float64)
        t = np.interp(x, self.x_quantiles_, self.t_quantiles_)
        slope = natural_cubic_basis(t, self.knots_, derivative=True) @ self.coef_
        return 1.0 / (1.0 + np.exp(-x)) + slope

    def _predict_proba(self, z: np.ndarray) -> np.ndarray:
        n, k = z.shape
        p = softmax_np(z)
        rows = np.arange(n)
        top = z.argmax(axis=1)
        x = top_log_odds(z)
        rest = 1.0 / (1.0 + np.exp(x))  # 1 - c, exact
        p2 = np.sort(p, axis=1)[:, -2]
        c_lo = p2 / np.maximum(rest + p2, 1e-300) * (1 + 1e-9)  # a hair above the tie
        c_hat = np.clip(self.calibrated_confidence(x), c_lo, 1.0 - PROB_FLOOR)
        safe = rest > 1e-300
        factor = np.where(safe, (1.0 - c_hat) / np.where(safe, rest, 1.0), 0.0)
        out = p * factor[:, None]
        out[~safe] = ((1.0 - c_hat[~safe]) / (k - 1))[:, None]
        out[rows, top] = c_hat
        out = np.maximum(out, PROB_FLOOR)
        return out / out.sum(axis=1, keepdims=True)

    def _transform(self, z: np.ndarray) -> np.ndarray:
        return np.log(self._predict_proba(z))

    def _get_state(self) -> dict[str, Any]:
        return {
            "knots": self.knots_.tolist(),
            "coef": self.coef_.tolist(),
            "t_quantiles": self.t_quantiles_.tolist(),
            "x_quantiles": self.x_quantiles_.tolist(),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        for key in ("knots", "coef", "t_quantiles", "x_quantiles"):
            setattr(self, key + "_", np.asarray(state[key], dtype=np.float64))
