"""Adaptive piecewise temperature scaling (ATS), the reconstruction of docs/method.md §2.

Calibrated logits ``z / T(x(z))`` where ``x(z) = log(c / (1 - c))`` is the **log-odds of the raw
top-label confidence** ``c = max_k softmax(z)_k`` and ``log T(x)`` is a piecewise-linear curve
through one knot per piece of ``x`` (constant outside the outer knots).

Why the log-odds: confident samples crowd into ``c in (0.95, 1]`` (a float64 confidence even
reaches exactly 1 once the logit gap exceeds ~37), so knots placed and interpolated in ``c``
squeeze most of the curve into a sliver of the axis. ``x`` spreads them (``c = 0.99, 0.999,
0.9999`` sit at ``x = 4.6, 6.9, 9.2``), is computed exactly from the logits
(``x = -logsumexp_{k != top}(z_k - z_top)``, finite for finite logits) and is the coordinate in
which temperature acts linearly for two classes (``x(a z) = a x(z)`` when ``K = 2``). It is
preferred to ``-log(1 - c)`` because it stays symmetric and well-behaved at low confidence and
because the no-inversion bound below becomes an exact closed form.

Fit (on a calibration split only), for a given number of pieces ``M`` and shrinkage ``s``:

1. Global temperature ``T_g``: plain temperature scaling with the same objective.
2. Pieces: equal-mass (weighted-quantile) edges of ``x`` cut the split into ``M`` pieces; ties
   never straddle an edge; while a piece holds less than ``min_piece_size`` (total sample
   weight), it is merged with its lighter neighbour.
3. Per piece ``b`` a temperature by 1-D root finding in ``u = log T`` of a monotone function
   (safeguarded Newton inside a sign bracket):

   - ``objective="nll"``: the zero of the NLL derivative; ``"ece"``: the temperature at which
     the piece's mean confidence equals its accuracy.
   - Shrinkage ``shrinkage_mode="pseudo"`` (default): the root of
     ``sum_{i in b} w_i d_i(u) + s * mean_{all i} d_i(u)`` (the piece plus ``s`` pseudo-samples
     of the whole split); ``s = 0`` is the piece's own fit, ``s -> inf`` gives ``T_g``.
   - ``shrinkage_mode="linear"``: ``log T_b = (n_b log T_hat_b + s log T_g) / (n_b + s)``.

   Each ``T_b`` is clipped to ``[t_min, t_max]``.
4. Knots at the pieces' weighted mean log-odds ``x_b``; ``log T`` linear in ``x`` between knots
   (``interpolation="linear"``) or constant per piece (``interpolation="step"``).

Model selection: ``n_pieces`` and ``shrinkage`` accept a list of candidates. With more than one
candidate pair they are chosen by stratified ``cv``-fold cross-validation on the calibration
split: every pair is fitted on ``cv - 1`` folds and predicts the held-out fold, which gives
out-of-fold calibrated probabilities for every sample. The score is their weighted mean NLL (or,
with ``objective="ece"``, their ECE-15). Among the pairs, ordered from simplest (``M = 1``, plain
TS) to most flexible (more pieces, then less shrinkage), the first whose score is within
``cv_se`` standard errors of the best pair's is kept; the standard error is that of the paired
difference to the best pair (per-sample NLL differences; for ECE, 200 bootstrap resamples). With
``cv_se = 2`` (default) pieces are used only when they beat TS clearly on held-out data; the
margin also pays for picking the best of several candidates on the same folds.

No inversions (``clip_slope=True``). For ``a > 0`` the calibrated logits of ``a z`` are
``s(a) z`` with ``s(a) = a / T(x(a z))``, and the calibrated confidence grows with ``s``, so it
suffices that ``d log s / d log a = 1 - (d log T / dx) * a dx/da >= 0``. For softmax outputs
``0 <= a dc/da <= c (1 - c) log((K - 1) c / (1 - c))`` (the non-top mass is at most uniform over
the other ``K - 1`` classes), and ``dx/dc = 1 / (c (1 - c))``, so

    0 <= a dx/da <= B(x) = x + log(K - 1)        (B >= 0 since c >= 1/K),

an exact linear bound (tight for ``K = 2`` and for rays whose non-top mass is uniform). Hence
``s`` is non-decreasing whenever ``d log T / dx <= 1 / (x + log(K - 1))`` wherever ``B > 0``
(any decrease of ``T`` is allowed); equivalently ``T`` may grow at most in proportion to
``x + log(K - 1)``. A linear segment ``[x_b, x_{b+1}]`` has a constant slope and ``1 / B`` is
smallest at its right end, so the segment is safe iff its rise
``log T_{b+1} - log T_b <= delta_b = (x_{b+1} - x_b) / (x_{b+1} + log(K - 1))``; a step curve
(``interpolation="step"``) is safe iff it never rises (``delta_b = 0``). Knot values are projected
onto these constraints in the piece-weighted least-squares sense (a weighted decreasing isotonic
regression of ``log T_b - D_b`` with ``D_b = sum_{j<b} delta_j``, plus ``D_b``). Clipping to
``[t_min, t_max]`` afterwards keeps the constraints. ``T > 0`` everywhere, so the argmax never
changes.

Bin-wise temperature scaling (Ji et al. 2019: equal-count confidence bins, one NLL-fitted
temperature per bin, applied by bin) is the setting ``n_pieces=M, shrinkage=0,
min_piece_size=0, interpolation="step", clip_slope=False`` (bins in log-odds have the same
members as bins in confidence, except that ties at a float confidence of 1 are split).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from sklearn.isotonic import isotonic_regression
from sklearn.model_selection import StratifiedKFold

from gencal._checks import GencalInputError
from gencal.calibration.arrays import equal_width_bin, log_softmax_np
from gencal.calibration.base import Calibrator, Inputs
from gencal.calibration.params import Constraint, Interval, Options, SequenceOf
from gencal.calibration.registry import register_calibrator
from gencal.calibration.root_finding import solve_root_newton
from gencal.calibration.temperature import (
    TemperatureProblem,
    check_temperature_bounds,
    fit_temperature,
    in_log_t,
    warn_if_temperature_at_bound,
)

__all__ = [
    "AdaptiveTemperatureScaling",
    "equal_mass_pieces",
    "max_rise_bound",
    "ray_slope_bound",
    "top_log_odds",
]


def top_log_odds(z: np.ndarray) -> np.ndarray:
    """Log-odds ``log(c / (1 - c))`` of the top-label softmax confidence ``c``, computed exactly.

    ``x = -log sum_{k != top} exp(z_k - z_top)``: finite for finite logits even where ``c`` rounds
    to 1 in float64. ``x >= -log(K - 1)`` (equality for uniform rows).

    Args:
        z: logits.

    Shape:
        ``z``: ``[N, K]`` with ``K >= 2``; returns ``[N]`` (float64).

    Example:
        >>> import numpy as np
        >>> x = top_log_odds(np.array([[2.0, 0.0], [50.0, 0.0]]))
        >>> np.round(x, 6).tolist()
        [2.0, 50.0]
    """
    z = np.asarray(z, dtype=np.float64)
    top = z.argmax(axis=1)
    rows = np.arange(z.shape[0])
    rest = z - z[rows, top][:, None]
    rest[rows, top] = -np.inf
    m = rest.max(axis=1)
    return -(m + np.log(np.exp(rest - m[:, None]).sum(axis=1)))


def ray_slope_bound(x: np.ndarray, k: int) -> np.ndarray:
    """``B(x) = max(x + log(K - 1), 0)``: the bound on ``a dx(a z)/da`` along logit rays.

    Args:
        x: top-label log-odds.
        k: number of classes ``K``.

    Returns:
        ``B(x)``, same shape as ``x``.

    Example:
        >>> float(ray_slope_bound(np.array([3.0]), 2)[0])
        3.0
    """
    return np.maximum(np.asarray(x, dtype=np.float64) + np.log(k - 1), 0.0)


def max_rise_bound(x_lo: float, x_hi: float, k: int) -> float:
    """Largest rise of ``log T`` over a linear segment ``[x_lo, x_hi]`` that keeps rays monotone.

    ``(x_hi - x_lo) / B(x_hi)``: the slope bound ``1 / B(x)`` is smallest at the right end.
    Infinite when ``B(x_hi) = 0`` (only uniform rows there).

    Args:
        x_lo: left knot (log-odds).
        x_hi: right knot, ``>= x_lo``.
        k: number of classes.

    Returns:
        The largest allowed ``log T(x_hi) - log T(x_lo)``.

    Example:
        >>> round(max_rise_bound(1.0, 3.0, 2), 6)
        0.666667
    """
    b = float(ray_slope_bound(np.array([x_hi]), k)[0])
    return np.inf if b <= 0 else (x_hi - x_lo) / b


def equal_mass_pieces(
    conf: np.ndarray, w: np.ndarray, n_pieces: int, min_piece_size: float
) -> np.ndarray:
    """Upper edges (inclusive) of equal-mass pieces of a score, sparse pieces merged.

    Edge ``j`` is the smallest score value whose cumulative weight reaches ``j W / M``;
    a sample belongs to piece ``searchsorted(edges, score, side="left")`` (so equal scores
    always share a piece, and a sample of weight 2 acts exactly like a duplicated sample).
    While a piece has total weight below ``min_piece_size`` (or zero weight) and more than one
    piece remains, the lightest piece is merged into its lighter neighbour.

    Args:
        conf: the score that is cut (confidence, log-odds, ...).
        w: non-negative sample weights.
        n_pieces: number of pieces before merging.
        min_piece_size: minimum total weight per piece.

    Shape:
        ``conf``, ``w``: ``[N]``; returns the inner edges ``[P - 1]`` (sorted).

    Example:
        >>> equal_mass_pieces(np.arange(8.0), np.ones(8), 4, 0).tolist()
        [1.0, 3.0, 5.0]
    """
    vals, inv = np.unique(conf, return_inverse=True)
    wv = np.bincount(inv, weights=w, minlength=vals.size)
    cw = np.cumsum(wv)
    total = cw[-1]
    targets = total * np.arange(1, n_pieces) / n_pieces
    idx = np.searchsorted(cw, targets * (1 - 1e-12), side="left")
    idx = np.unique(idx[idx < vals.size - 1])
    edges = list(vals[idx])
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


def project_slopes(
    centres: np.ndarray, log_t: np.ndarray, weights: np.ndarray, k: int, step: bool = False
) -> np.ndarray:
    """Weighted least-squares projection of knot values onto ``L_{b+1} - L_b <= delta_b``.

    ``delta_b`` is :func:`max_rise_bound` of segment ``b`` (0 for a step curve). With
    ``D_b = sum_{j<b} delta_j`` the constraint set is ``{L : L - D non-increasing}``, so the
    projection is a weighted decreasing isotonic regression of ``L - D`` plus ``D``.

    Args:
        centres: knot positions (log-odds), increasing.
        log_t: knot values ``log T_b``.
        weights: positive knot weights (piece sizes).
        k: number of classes.
        step: constraints of a piecewise-constant curve (``delta_b = 0``).

    Shape:
        all ``[P]``; returns ``[P]``.

    Example:
        >>> project_slopes(np.array([0.0, 1.0]), np.array([0.0, 2.0]), np.ones(2), 3, step=True)
        array([1., 1.])
    """
    if step:
        delta = np.zeros(len(centres) - 1)
    else:
        span = float(np.ptp(log_t)) + 1.0
        delta = np.array(
            [
                min(max_rise_bound(centres[b], centres[b + 1], k), span)
                for b in range(len(centres) - 1)
            ]
        )
    d = np.concatenate([[0.0], np.cumsum(delta)])
    fitted = isotonic_regression(log_t - d, sample_weight=weights, increasing=False)
    out = np.asarray(fitted, dtype=np.float64) + d
    for b in range(len(out) - 1):  # exact feasibility despite rounding
        out[b + 1] = min(out[b + 1], out[b] + delta[b])
    return out


def _ece15(conf: np.ndarray, correct: np.ndarray, w: np.ndarray | None) -> float:
    """Top-label ECE with 15 equal-width bins (weighted when ``w`` is given)."""
    idx = equal_width_bin(conf, 15)
    ww = np.ones_like(conf) if w is None else w
    sc = np.bincount(idx, weights=ww * conf, minlength=15)
    sa = np.bincount(idx, weights=ww * correct, minlength=15)
    return float(np.abs(sc - sa).sum() / ww.sum())


def _as_candidates(v: Any, kind: type, name: str) -> list:
    vals = list(np.ravel(v)) if _is_list(v) else [v]
    if not vals:
        raise GencalInputError(f"{name}: need at least one value")
    try:
        out = [kind(x) for x in vals]
    except (TypeError, ValueError) as exc:
        raise GencalInputError(f"{name}: expected numbers, got {v!r}") from exc
    return out


def _is_list(v: Any) -> bool:
    return isinstance(v, (Sequence, np.ndarray)) and not isinstance(v, str)


@register_calibrator("ats")
class AdaptiveTemperatureScaling(Calibrator):
    """Adaptive piecewise temperature scaling in the log-odds of the top confidence.

    See the module docstring for the algorithm, the no-inversion bound and the cross-validation.

    Args:
        n_pieces: number of equal-mass pieces before merging (1 = plain TS), or a list of
            candidates chosen by cross-validation.
        shrinkage: pull of every piece towards the global temperature, in samples, or a list of
            candidates chosen by cross-validation.
        cv: number of stratified folds for the choice (used when there is more than one
            candidate pair).
        cv_se: keep the simplest pair whose CV score is within this many standard errors of
            the best (0: the best pair; 1: the one-standard-error rule).
        min_piece_size: minimum total sample weight per piece; sparser pieces are merged.
        objective: ``"nll"`` (per-piece NLL optimum; held-out NLL in the CV) or ``"ece"``
            (per-piece mean confidence = accuracy; held-out ECE-15 in the CV).
        shrinkage_mode: ``"pseudo"`` (default) or ``"linear"``.
        interpolation: ``"linear"`` (in log-odds) or ``"step"`` (one temperature per piece).
        t_min: lower bound on every temperature.
        t_max: upper bound on every temperature.
        clip_slope: enforce the no-inversion bound (turn off only to study its effect).
        random_state: seed of the fold shuffling.
        inputs: ``"logits"`` (default) or ``"probs"`` (see :class:`Calibrator`).
        balanced: fit with class-balanced sample weights (see :class:`Calibrator`).

    Shape:
        ``fit(logits [N, K], labels [N])``; ``transform(logits [M, K]) -> [M, K]``.

    Fitted attributes: ``n_pieces_``, ``shrinkage_`` (the chosen pair), ``cv_scores_`` (one
    dict per candidate: ``n_pieces``, ``shrinkage``, ``score``, ``diff_se``), ``temperature_global_``,
    ``edges_`` and ``centres_`` (log-odds), ``piece_sizes_``, ``log_t_own_``, ``log_t_shrunk_``,
    ``log_temperatures_`` (the knots).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(600, 3)) * 3
        >>> y = np.array([rng.choice(3, p=np.exp(r / 2) / np.exp(r / 2).sum()) for r in z])
        >>> ats = AdaptiveTemperatureScaling().fit(z, y)
        >>> ats.n_pieces_ >= 1 and ats.predict_proba(z).shape == (600, 3)
        True
        >>> bool((ats.predict_proba(z).argmax(1) == z.argmax(1)).all())
        True
    """

    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "n_pieces": [Interval(int, 1, None, "left"), SequenceOf(Interval(int, 1, None, "left"))],
        "shrinkage": [
            Interval(float, 0, None, "left"),
            SequenceOf(Interval(float, 0, None, "left")),
        ],
        "cv": [Interval(int, 2, None, "left")],
        "cv_se": [Interval(float, 0, None, "left")],
        "cv_metric": [Options("nll", "ece"), None],
        "min_piece_size": [Interval(float, 0, None, "left")],
        "objective": [Options("nll", "ece")],
        "shrinkage_mode": [Options("pseudo", "linear")],
        "interpolation": [Options("linear", "step")],
        "t_min": [Interval(float, 0, None, "neither")],
        "t_max": [Interval(float, 0, None, "neither")],
        "clip_slope": [bool],
        "random_state": [Interval(int, 0, None, "left")],
    }

    def __init__(
        self,
        n_pieces: int | Sequence[int] = (1, 2, 4, 8),
        shrinkage: float | Sequence[float] = (3.0, 10.0, 30.0, 100.0),
        cv: int = 5,
        cv_se: float = 2.0,
        cv_metric: str | None = None,
        min_piece_size: float = 100.0,
        objective: str = "nll",
        shrinkage_mode: str = "pseudo",
        interpolation: str = "linear",
        t_min: float = 0.05,
        t_max: float = 20.0,
        clip_slope: bool = True,
        random_state: int = 0,
        *,
        inputs: Inputs = "logits",
        balanced: bool = False,
    ) -> None:
        super().__init__(inputs=inputs, balanced=balanced)
        self.n_pieces = n_pieces
        self.shrinkage = shrinkage
        self.cv = cv
        self.cv_se = cv_se
        self.cv_metric = cv_metric
        self.min_piece_size = min_piece_size
        self.objective = objective
        self.shrinkage_mode = shrinkage_mode
        self.interpolation = interpolation
        self.t_min = t_min
        self.t_max = t_max
        self.clip_slope = clip_slope
        self.random_state = random_state

    def _check_params(self) -> None:
        check_temperature_bounds(self.t_min, self.t_max)

    # ------------------------------------------------------------------ candidates and CV
    def candidates(self) -> list[tuple[int, float]]:
        """Candidate ``(n_pieces, shrinkage)`` pairs, simplest first (``(1, s)`` is plain TS).

        Returns:
            The pairs in the order the cross-validation prefers them: one plain-TS pair, then
            more pieces, then less shrinkage.

        Example:
            >>> AdaptiveTemperatureScaling(n_pieces=[1, 4], shrinkage=[10, 30]).candidates()
            [(1, 30.0), (4, 30.0), (4, 10.0)]
        """
        pieces = sorted(set(_as_candidates(self.n_pieces, int, "n_pieces")))
        shrinks = sorted(set(_as_candidates(self.shrinkage, float, "shrinkage")), reverse=True)
        out = [(1, shrinks[0])] if 1 in pieces else []
        out += [(m, s) for m in pieces if m > 1 for s in shrinks]
        return out

    def _cross_validate(
        self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None, cands: list
    ) -> tuple[tuple[int, float], list[dict[str, float]]]:
        n = len(y)
        if n < 2 * self.cv or np.bincount(y).max() < self.cv:
            return cands[0], []
        folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # classes rarer than the fold count
            splits = list(folds.split(np.zeros(n), y))
        # out-of-fold calibrated log-probabilities of every candidate
        oof = np.empty((len(cands), *z.shape))
        by_pieces: dict[int, list[int]] = {}
        for c, (m, _) in enumerate(cands):
            by_pieces.setdefault(m, []).append(c)
        for tr, te in splits:
            wtr = None if w is None else w[tr]
            for m, idx in by_pieces.items():
                curves = self._fit_curves(z[tr], y[tr], wtr, m, [cands[c][1] for c in idx])
                for c, curve in zip(idx, curves, strict=True):
                    oof[c, te] = log_softmax_np(self._apply(z[te], curve))
        ww = np.ones(n) if w is None else w
        if (self.cv_metric or self.objective) == "nll":
            loss = -oof[:, np.arange(n), y]  # [candidates, N]
            mean = loss @ ww / ww.sum()
            best = int(np.argmin(mean))
            diff = loss - loss[best]
            n_eff = ww.sum() ** 2 / (ww**2).sum()
            dm = diff @ ww / ww.sum()
            var = ((diff - dm[:, None]) ** 2) @ ww / ww.sum()
            se = np.sqrt(var / max(n_eff - 1.0, 1.0))
        else:
            probs = np.exp(oof)
            conf, correct = probs.max(axis=2), (probs.argmax(axis=2) == y).astype(np.float64)
            mean = np.array([_ece15(conf[c], correct[c], w) for c in range(len(cands))])
            best = int(np.argmin(mean))
            rng = np.random.default_rng(self.random_state)
            boot = np.empty((len(cands), 200))
            for b in range(200):  # bootstrap SE of the paired difference of the pooled ECE
                i = rng.integers(0, n, n)
                wi = None if w is None else w[i]
                e = [_ece15(conf[c, i], correct[c, i], wi) for c in range(len(cands))]
                boot[:, b] = np.asarray(e) - e[best]
            se = boot.std(axis=1, ddof=1)
        chosen = next(c for c in range(len(cands)) if mean[c] - mean[best] <= self.cv_se * se[c])
        table = [
            {
                "n_pieces": int(m),
                "shrinkage": float(s),
                "score": float(mean[c]),
                "diff_se": float(se[c]),
            }
            for c, (m, s) in enumerate(cands)
        ]
        return cands[chosen], table

    # ------------------------------------------------------------------ one curve
    def _fit_curve(
        self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None, n_pieces: int, shrinkage: float
    ) -> dict[str, Any]:
        return self._fit_curves(z, y, w, n_pieces, [shrinkage])[0]

    def _fit_curves(
        self,
        z: np.ndarray,
        y: np.ndarray,
        w: np.ndarray | None,
        n_pieces: int,
        shrinkages: list[float],
    ) -> list[dict[str, Any]]:
        """One curve per shrinkage value; the pieces and their own fits are shared."""
        n, k = z.shape
        ww = np.ones(n) if w is None else w
        lo, hi = np.log(self.t_min), np.log(self.t_max)
        x = top_log_odds(z)
        glob = TemperatureProblem(z, y, w)
        t_g = fit_temperature(glob, self.objective, self.t_min, self.t_max)
        u_g = float(np.log(t_g))

        edges = equal_mass_pieces(x, ww, n_pieces, self.min_piece_size)
        piece = np.searchsorted(edges, x, side="left")
        n_p = edges.size + 1
        sizes = np.bincount(piece, weights=ww, minlength=n_p)
        centres = np.bincount(piece, weights=ww * x, minlength=n_p) / sizes

        def deriv(p: TemperatureProblem):
            return p.nll_grad_and_slope if self.objective == "nll" else p.conf_gap_and_slope

        g_glob = deriv(glob)
        raw = np.full(n_p, u_g)
        shrunk = np.full((len(shrinkages), n_p), u_g)
        for b in range(n_p if n_p > 1 else 0):
            m = piece == b
            pb = TemperatureProblem(z[m], y[m], None if w is None else w[m])
            fb = deriv(pb)
            own = solve_root_newton(lambda u, fb=fb: in_log_t(fb, u), lo, hi, u_g)
            raw[b] = own
            for j, shrinkage in enumerate(shrinkages):
                if self.shrinkage_mode == "linear":
                    shrunk[j, b] = (sizes[b] * own + shrinkage * u_g) / (sizes[b] + shrinkage)
                elif shrinkage == 0:
                    shrunk[j, b] = own
                else:
                    kap = shrinkage / glob.weight

                    def both(beta: float, fb=fb, kap=kap) -> tuple[float, float]:
                        v, dv = fb(beta)
                        vg, dvg = g_glob(beta)
                        return v + kap * vg, dv + kap * dvg

                    shrunk[j, b] = solve_root_newton(lambda u, f=both: in_log_t(f, u), lo, hi, u_g)
        curves = []
        for j in range(len(shrinkages)):
            log_t = np.clip(shrunk[j], lo, hi)
            if self.clip_slope and n_p > 1:
                step = self.interpolation == "step"
                log_t = project_slopes(centres, log_t, sizes, k, step=step)
                log_t = np.clip(log_t, lo, hi)
            curves.append(
                {
                    "temperature_global": t_g,
                    "edges": edges,
                    "piece_sizes": sizes,
                    "centres": centres,
                    "log_t_own": raw,
                    "log_t_shrunk": shrunk[j],
                    "log_temperatures": log_t,
                }
            )
        return curves

    def _log_t_at(self, x: np.ndarray, curve: dict) -> np.ndarray:
        if self.interpolation == "step":
            return curve["log_temperatures"][np.searchsorted(curve["edges"], x, side="left")]
        return np.interp(x, curve["centres"], curve["log_temperatures"])

    def _apply(self, z: np.ndarray, curve: dict) -> np.ndarray:
        t = np.exp(self._log_t_at(top_log_odds(z), curve))
        return z / t[:, None]

    # ------------------------------------------------------------------ fit / apply
    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        if w is not None and (w <= 0).any():  # weight 0 = left out, also of the folds
            keep = w > 0
            z, y, w = z[keep], y[keep], w[keep]
        cands = self.candidates()
        if len(cands) > 1:
            (m, s), table = self._cross_validate(z, y, w, cands)
        else:
            (m, s), table = cands[0], []
        curve = self._fit_curve(z, y, w, m, s)
        self.n_pieces_ = int(m)
        self.shrinkage_ = float(s)
        self.cv_scores_ = table
        self._set_curve(curve)

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

    def _set_curve(self, curve: dict[str, Any]) -> None:
        self.temperature_global_ = float(curve["temperature_global"])
        for key in ("edges", "piece_sizes", "centres", "log_t_own", "log_t_shrunk"):
            setattr(self, key + "_", np.asarray(curve[key], dtype=np.float64))
        self.log_temperatures_ = np.asarray(curve["log_temperatures"], dtype=np.float64)

    def _curve(self) -> dict[str, Any]:
        return {
            "edges": self.edges_,
            "centres": self.centres_,
            "log_temperatures": self.log_temperatures_,
        }

    def temperature_at(self, log_odds: np.ndarray) -> np.ndarray:
        """``T(x)``: the fitted temperature as a function of the raw top-label log-odds.

        Args:
            log_odds: ``x = log(c / (1 - c))`` of the raw top-label confidence, any shape.

        Returns:
            The temperatures, same shape.

        Example:
            >>> import numpy as np
            >>> rng = np.random.default_rng(0)
            >>> z = rng.normal(size=(400, 3)) * 3
            >>> y = np.where(rng.random(400) < 0.7, z.argmax(1), rng.integers(0, 3, 400))
            >>> ats = AdaptiveTemperatureScaling(n_pieces=1).fit(z, y)
            >>> bool(np.allclose(ats.temperature_at(np.array([0.0, 5.0])), ats.temperature_global_))
            True
        """
        return np.exp(self._log_t_at(np.asarray(log_odds, dtype=np.float64), self._curve()))

    def temperature(self, conf: np.ndarray) -> np.ndarray:
        """``T`` as a function of the raw top-label confidence ``c`` (``x = log(c / (1 - c))``).

        Args:
            conf: raw top-label confidences in ``[0, 1]``.

        Returns:
            The temperatures, same shape.

        Example:
            >>> import numpy as np
            >>> rng = np.random.default_rng(0)
            >>> z = rng.normal(size=(400, 3)) * 3
            >>> y = np.where(rng.random(400) < 0.7, z.argmax(1), rng.integers(0, 3, 400))
            >>> ats = AdaptiveTemperatureScaling(n_pieces=1).fit(z, y)
            >>> ats.temperature(np.array([0.5, 1.0])).shape
            (2,)
        """
        c = np.asarray(conf, dtype=np.float64)
        with np.errstate(divide="ignore"):
            x = np.log(c) - np.log1p(-c)
        return self.temperature_at(x)

    def _transform(self, z: np.ndarray) -> np.ndarray:
        return self._apply(z, self._curve())

    # ------------------------------------------------------------------ JSON / repr
    def _get_state(self) -> dict[str, Any]:
        return {
            "n_pieces": self.n_pieces_,
            "shrinkage": self.shrinkage_,
            "cv_scores": self.cv_scores_,
            "temperature_global": float(self.temperature_global_),
            "edges": self.edges_.tolist(),
            "piece_sizes": self.piece_sizes_.tolist(),
            "centres": self.centres_.tolist(),
            "log_t_own": self.log_t_own_.tolist(),
            "log_t_shrunk": self.log_t_shrunk_.tolist(),
            "log_temperatures": self.log_temperatures_.tolist(),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self.n_pieces_ = int(state["n_pieces"])
        self.shrinkage_ = float(state["shrinkage"])
        self.cv_scores_ = list(state.get("cv_scores", []))
        self._set_curve(state)

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        base = super().__repr__(N_CHAR_MAX)
        if not self.is_fitted:
            return base
        return (
            f"{base} [fitted: n_pieces_={self.n_pieces_}, shrinkage_={self.shrinkage_:g}, "
            f"knots={len(self.centres_)}, T_global={self.temperature_global_:.4g}]"
        )
