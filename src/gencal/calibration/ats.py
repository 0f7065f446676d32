"""Adaptive piecewise temperature scaling (``ats``): a temperature that depends on confidence.

Calibrated logits ``z / T(c(z))`` where ``c(z) = max_k softmax(z)_k`` is the *raw* top-label
confidence and ``log T(c)`` is a piecewise-linear curve through one knot per confidence piece.

Fit (on a calibration split only):

1. Global temperature ``T_g``: plain temperature scaling with the same objective.
2. Pieces: equal-mass (weighted-quantile) edges of the raw confidence cut the split into
   ``n_pieces`` pieces; ties never straddle an edge; while a piece holds less than
   ``min_piece_size`` (total sample weight), it is merged with its smaller neighbour.
3. Per piece ``b`` a temperature by 1-D root finding in ``u = log T`` of a monotone function
   (safeguarded Newton inside a sign bracket; no learning rate, no gradient-descent loop):

   - ``objective="nll"``: the zero of the NLL derivative; ``"ece"``: the temperature at which
     the piece's mean confidence equals its accuracy (its one-bin calibration error is 0).
   - Shrinkage ``shrinkage_mode="pseudo"`` (default): the piece is fitted together with
     ``shrinkage`` pseudo-samples of the whole split, i.e. the root of
     ``sum_{i in b} w_i d_i(u) + shrinkage * mean_{all i} d_i(u)`` where ``d_i`` is the sample's
     objective derivative. ``shrinkage -> 0`` gives the piece's own fit, ``-> inf`` gives ``T_g``.
     Unlike a fixed weight on ``log T``, this shrinks by *information*: a piece of ``n_b``
     nearly-all-correct, very confident samples tells little about ``T`` (its NLL is flat and its
     own optimum runs to ``T -> 0``), so the global pseudo-samples, which contain errors,
     dominate it; the fitted problem stays a root of a monotone function (unique).
   - ``shrinkage_mode="linear"``: precision weighting of the piece's own fit,
     ``log T_b = (n_b log T_hat_b + shrinkage log T_g) / (n_b + shrinkage)``.

   Each ``T_b`` is clipped to ``[t_min, t_max]``.
4. Knots at the pieces' weighted mean raw confidence ``c_b``; ``log T`` is linear between knots
   and constant outside them (no jumps anywhere).
5. No inversions (``clip_slope=True``): for ``a > 0`` the calibrated logits of ``a z`` are
   ``s(a) z`` with ``s(a) = a / T(c(a z))``, and the calibrated confidence grows with ``s``.
   ``d log s / d log a = 1 - (d log T/dc) * a dc/da`` and, for softmax outputs,
   ``0 <= a dc/da <= B(c) = c (1 - c) log((K - 1) c / (1 - c))`` (the non-top mass is at most
   uniform over ``K - 1`` classes; ``B >= 0`` because ``c >= 1/K``, ``B = 0`` at ``c = 1/K`` and
   ``c -> 1``). So ``s`` is non-decreasing whenever ``d log T / dc <= 1 / B(c)`` (any decrease of
   ``T`` with ``c`` is allowed). On a linear segment ``[c_b, c_{b+1}]`` this holds if the rise
   ``log T_{b+1} - log T_b <= delta_b = (c_{b+1} - c_b) / max_{[c_b, c_{b+1}]} B`` (the max
   taken on a fine grid and inflated by 1% for safety). The knot values are projected onto
   these constraints in the piece-weighted least-squares sense: with ``D_b = sum_{j<b} delta_j``
   the constraints say ``log T_b - D_b`` is non-increasing, which is a weighted isotonic
   (decreasing) regression of ``log T_b - D_b``; adding ``D_b`` back gives the projection.
   Clipping to ``[t_min, t_max]`` afterwards keeps the slope bounds.
6. ``T > 0`` for every sample, so the argmax never changes (accuracy is untouched).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.isotonic import isotonic_regression

from gencal.calibration.arrays import top_confidence_np
from gencal.calibration.base import Calibrator, Inputs
from gencal.calibration.params import Constraint, Interval, Options
from gencal.calibration.registry import register_calibrator
from gencal.calibration.root_finding import solve_root_newton
from gencal.calibration.temperature import (
    TemperatureProblem,
    check_temperature_bounds,
    fit_temperature,
    in_log_t,
    warn_if_temperature_at_bound,
)

__all__ = ["AdaptiveTemperatureScaling", "equal_mass_pieces", "max_rise_bound"]


def ray_slope_bound_B(c: np.ndarray, k: int) -> np.ndarray:
    """``B(c) = c (1 - c) log((K - 1) c / (1 - c))``, the bound on ``a dc/da`` (0 outside (1/K, 1))."""
    c = np.asarray(c, dtype=np.float64)
    out = np.zeros_like(c)
    m = (c > 1.0 / k) & (c < 1.0)
    cm = c[m]
    out[m] = cm * (1 - cm) * np.log((k - 1) * cm / (1 - cm))
    return np.maximum(out, 0.0)


def max_rise_bound(c_lo: float, c_hi: float, k: int, safety: float = 1.01) -> float:
    """Largest allowed rise of ``log T`` over ``[c_lo, c_hi]`` for a linear segment."""
    grid = np.linspace(c_lo, c_hi, 1025)
    bmax = float(ray_slope_bound_B(grid, k).max()) * safety
    if bmax <= 0:
        return np.inf
    return (c_hi - c_lo) / bmax


def equal_mass_pieces(
    conf: np.ndarray, w: np.ndarray, n_pieces: int, min_piece_size: float
) -> np.ndarray:
    """Upper edges (inclusive) of equal-mass confidence pieces, sparse pieces merged.

    Edge ``j`` is the smallest confidence value whose cumulative weight reaches ``j W / M``;
    a sample belongs to piece ``searchsorted(edges, c, side="left")`` (so equal confidences
    always share a piece, and a sample of weight 2 acts exactly like a duplicated sample).
    While a piece has total weight below ``min_piece_size`` (or zero weight) and more than one
    piece remains, the lightest piece is merged into its lighter neighbour. Returns the inner edges (length
    number of pieces - 1), sorted.
    """
    vals, inv = np.unique(conf, return_inverse=True)
    wv = np.bincount(inv, weights=w, minlength=vals.size)
    cw = np.cumsum(wv)
    total = cw[-1]
    targets = total * np.arange(1, n_pieces) / n_pieces
    idx = np.searchsorted(cw, targets * (1 - 1e-12), side="left")
    idx = np.unique(idx[idx < vals.size - 1])
    edges = list(vals[idx])
    # piece weights
    bounds = [-1, *[int(i) for i in idx], vals.size - 1]
    sizes = [
        cw[bounds[j + 1]] - (cw[bounds[j]] if bounds[j] >= 0 else 0.0)
        for j in range(len(bounds) - 1)
    ]
    while len(sizes) > 1 and (min(sizes) < min_piece_size or min(sizes) <= 0):
        j = int(np.argmin(sizes))
        if j == 0:
            nb = 1
        elif j == len(sizes) - 1:
            nb = j - 1
        else:
            nb = j - 1 if sizes[j - 1] <= sizes[j + 1] else j + 1
        lo = min(j, nb)
        sizes[lo] = sizes[lo] + sizes[lo + 1]
        del sizes[lo + 1]
        del edges[lo]
    return np.asarray(edges, dtype=np.float64)


@register_calibrator("ats")
class AdaptiveTemperatureScaling(Calibrator):
    """Adaptive piecewise temperature scaling (see the module docstring for the math).

    Parameters
    ----------
    n_pieces:
        Number of equal-mass pieces of raw top-label confidence before merging (``M``).
    min_piece_size:
        Minimum total sample weight (= number of samples without weights) per piece; sparser
        pieces are merged with a neighbour. With ``N < 2 * min_piece_size`` ATS is plain TS.
    objective:
        ``"nll"`` (per-piece NLL optimum) or ``"ece"`` (per-piece mean confidence = accuracy).
    shrinkage:
        Strength of the pull towards the global temperature, in samples: the number of
        pseudo-samples of the whole split added to each piece (``"pseudo"``) or the prior
        count ``kappa`` of the precision-weighted average of ``log T`` (``"linear"``).
    shrinkage_mode:
        ``"pseudo"`` (default) or ``"linear"``.
    t_min, t_max:
        Bounds on every temperature.
    clip_slope:
        Enforce the no-inversion slope bound (default True; turn off only to study its effect).
    """

    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "n_pieces": [Interval(int, 1, None, "left")],
        "min_piece_size": [Interval(float, 0, None, "left")],
        "objective": [Options("nll", "ece")],
        "shrinkage": [Interval(float, 0, None, "left")],
        "shrinkage_mode": [Options("pseudo", "linear")],
        "t_min": [Interval(float, 0, None, "neither")],
        "t_max": [Interval(float, 0, None, "neither")],
        "clip_slope": [bool],
    }

    def __init__(
        self,
        n_pieces: int = 6,
        min_piece_size: float = 100.0,
        objective: str = "nll",
        shrinkage: float = 30.0,
        shrinkage_mode: str = "pseudo",
        t_min: float = 0.05,
        t_max: float = 20.0,
        clip_slope: bool = True,
        *,
        inputs: Inputs = "logits",
        balanced: bool = False,
    ) -> None:
        super().__init__(inputs=inputs, balanced=balanced)
        self.n_pieces = n_pieces
        self.min_piece_size = min_piece_size
        self.objective = objective
        self.shrinkage = shrinkage
        self.shrinkage_mode = shrinkage_mode
        self.t_min = t_min
        self.t_max = t_max
        self.clip_slope = clip_slope

    def _check_params(self) -> None:
        check_temperature_bounds(self.t_min, self.t_max)

    # ------------------------------------------------------------------ fit
    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        n, k = z.shape
        ww = np.ones(n) if w is None else w
        lo, hi = np.log(self.t_min), np.log(self.t_max)
        conf = top_confidence_np(z)
        glob = TemperatureProblem(z, y, w)
        t_g = fit_temperature(glob, self.objective, self.t_min, self.t_max)
        u_g = float(np.log(t_g))

        edges = equal_mass_pieces(conf, ww, self.n_pieces, self.min_piece_size)
        piece = np.searchsorted(edges, conf, side="left")
        n_p = edges.size + 1
        sizes = np.bincount(piece, weights=ww, minlength=n_p)
        centres = np.bincount(piece, weights=ww * conf, minlength=n_p) / sizes

        def deriv(p: TemperatureProblem):
            return p.nll_grad_and_slope if self.objective == "nll" else p.conf_gap_and_slope

        g_glob = deriv(glob)
        raw = np.empty(n_p)
        shrunk = np.empty(n_p)
        for b in range(n_p):
            m = piece == b
            pb = TemperatureProblem(z[m], y[m], None if w is None else w[m])
            fb = deriv(pb)
            own = solve_root_newton(lambda u, fb=fb: in_log_t(fb, u), lo, hi, u_g)
            raw[b] = own
            if n_p == 1:
                shrunk[b] = u_g
            elif self.shrinkage_mode == "linear":
                shrunk[b] = (sizes[b] * own + self.shrinkage * u_g) / (sizes[b] + self.shrinkage)
            elif self.shrinkage == 0:
                shrunk[b] = own
            else:
                kap = self.shrinkage / glob.weight

                def both(beta: float, fb=fb, kap=kap) -> tuple[float, float]:
                    v, dv = fb(beta)
                    vg, dvg = g_glob(beta)
                    return v + kap * vg, dv + kap * dvg

                shrunk[b] = solve_root_newton(lambda u, f=both: in_log_t(f, u), lo, hi, u_g)
        log_t = np.clip(shrunk, lo, hi)
        if self.clip_slope and n_p > 1:
            log_t = project_slopes(centres, log_t, sizes, k)
            log_t = np.clip(log_t, lo, hi)

        self.temperature_global_ = t_g
        self.edges_ = edges
        self.piece_sizes_ = sizes
        self.centres_ = centres
        self.log_t_own_ = raw
        self.log_t_shrunk_ = shrunk
        self.log_temperatures_ = log_t

    def fit(
        self, logits: Any, labels: Any, sample_weight: Any = None
    ) -> AdaptiveTemperatureScaling:
        """:meth:`Calibrator.fit`, then a warning when the global temperature is at a bound.

        Args:
            logits: the calibration split's logits.
            labels: integer class indices.
            sample_weight: optional non-negative weights.
        """
        super().fit(logits, labels, sample_weight)
        warn_if_temperature_at_bound(
            type(self).__name__, self.temperature_global_, self.t_min, self.t_max
        )
        return self

    # ------------------------------------------------------------------ apply
    def temperature(self, conf: np.ndarray) -> np.ndarray:
        """``T(c)``: the fitted temperature as a function of raw top-label confidence."""
        return np.exp(np.interp(conf, self.centres_, self.log_temperatures_))

    def _transform(self, z: np.ndarray) -> np.ndarray:
        t = self.temperature(top_confidence_np(z))
        return z / t[:, None]

    # ------------------------------------------------------------------ JSON
    def _get_state(self) -> dict[str, Any]:
        return {
            "temperature_global": float(self.temperature_global_),
            "edges": self.edges_.tolist(),
            "piece_sizes": self.piece_sizes_.tolist(),
            "centres": self.centres_.tolist(),
            "log_t_own": self.log_t_own_.tolist(),
            "log_t_shrunk": self.log_t_shrunk_.tolist(),
            "log_temperatures": self.log_temperatures_.tolist(),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self.temperature_global_ = float(state["temperature_global"])
        for key in ("edges", "piece_sizes", "centres", "log_t_own", "log_t_shrunk"):
            setattr(self, key + "_", np.asarray(state[key], dtype=np.float64))
        self.log_temperatures_ = np.asarray(state["log_temperatures"], dtype=np.float64)


def project_slopes(
    centres: np.ndarray, log_t: np.ndarray, weights: np.ndarray, k: int
) -> np.ndarray:
    """Weighted least-squares projection of knot values onto ``L_{b+1} - L_b <= delta_b``.

    ``delta_b`` is :func:`max_rise_bound` of segment ``b``. With ``D_b = sum_{j<b} delta_j`` the
    constraint set is ``{L : L - D non-increasing}``, so the projection is a weighted decreasing
    isotonic regression of ``L - D`` plus ``D``.
    """
    span = float(np.ptp(log_t)) + 1.0
    delta = np.array(
        [min(max_rise_bound(centres[b], centres[b + 1], k), span) for b in range(len(centres) - 1)]
    )
    d = np.concatenate([[0.0], np.cumsum(delta)])
    fitted = isotonic_regression(log_t - d, sample_weight=weights, increasing=False)
    out = np.asarray(fitted, dtype=np.float64) + d
    # exact feasibility despite rounding: clip successive rises left to right
    for b in range(len(out) - 1):
        out[b + 1] = min(out[b + 1], out[b] + delta[b])
    return out
