"""Temperature scaling (``ts``, Guo et al. 2017) and the numerics every temperature fit shares.

Calibrated logits are ``z / T`` with one ``T > 0`` for all samples and classes; this never
changes the argmax.

Notation: ``z' = z - max_k z`` (row-shifted logits, so ``z'_max = 0`` and ``exp(beta z')`` never
overflows for ``beta = 1/T > 0``); ``p(beta) = softmax(beta z)``.

Mean NLL at temperature ``T = 1/beta``: ``NLL(beta) = mean_i[logsumexp(beta z_i) - beta z_{i,y_i}]``.
Its derivative ``g(beta) = dNLL/dbeta = mean_i[E_{p_i}[z_i] - z_{i,y_i}]`` is non-decreasing in
``beta`` (``dg/dbeta = mean_i Var_{p_i}(z_i) >= 0``: NLL is convex in ``1/T``). In ``u = log T``,
``dNLL/du = -beta g(beta)``, so NLL is *not* convex in ``log T`` (it is quasi-convex) but its
stationary point is the unique root of ``h(u) = g(exp(-u))``, a non-increasing function of ``u``.
Every temperature fit (``ts``, ``ts_grid``'s NLL, ``ats``'s pieces) is 1-D root finding of such a
non-increasing ``h`` (:mod:`gencal.calibration.root_finding`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from gencal._checks import GencalInputError
from gencal.calibration.base import Calibrator, Inputs
from gencal.calibration.params import Constraint, Interval, Options
from gencal.calibration.registry import register_calibrator
from gencal.calibration.root_finding import solve_nonincreasing_root, solve_root_newton

__all__ = [
    "SingleTemperatureCalibrator",
    "TemperatureAtBoundWarning",
    "TemperatureProblem",
    "TemperatureScaling",
    "check_temperature_bounds",
    "fit_temperature",
    "in_log_t",
    "warn_if_temperature_at_bound",
]


class TemperatureProblem:
    """Pre-shifted logits of a (sub)set with the quantities a temperature fit needs.

    ``nll_grad(beta)`` is the weighted sum (not the mean) of ``E_p[z'] - z'_y`` and
    ``conf_gap(beta)`` the weighted sum of ``conf(beta) - correct``; both non-decreasing in
    ``beta``. The ``*_and_slope`` variants also return the derivative w.r.t. ``beta``
    (``sum w Var_p(z')`` and ``sum w conf * (-E_p[z'])``, both >= 0). ``weight`` is the total
    weight. One evaluation costs a few passes over ``[N, K]`` (one ``exp``), in place; row sums
    use ``einsum`` (single-threaded SIMD; a BLAS mat-vec is slower under CPU contention).

    Args:
        z: float64 logits.
        y: integer labels.
        w: sample weights or ``None``.

    Shape:
        ``z``: ``[N, K]``; ``y``, ``w``: ``[N]``.

    Example:
        >>> p = TemperatureProblem(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 0]), None)
        >>> p.weight, p.correct.tolist()
        (2.0, [1.0, 0.0])
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
        """Weighted sum of ``E_p[z'] - z'_y`` at ``T = 1/beta`` (the NLL's ``beta``-derivative).

        Args:
            beta: inverse temperature ``1/T``.
        """
        _, m1, _ = self._moments(beta, False)
        return self._sum(m1 - self.zy)

    def nll_grad_and_slope(self, beta: float) -> tuple[float, float]:
        """:meth:`nll_grad` and its derivative ``sum w Var_p(z') >= 0``.

        Args:
            beta: inverse temperature ``1/T``.
        """
        _, m1, m2 = self._moments(beta, True)
        return self._sum(m1 - self.zy), self._sum(np.maximum(m2 - m1 * m1, 0.0))

    def conf_gap(self, beta: float) -> float:
        """Weighted sum of ``conf - correct`` at ``T = 1/beta``.

        Args:
            beta: inverse temperature ``1/T``.
        """
        s, _, _ = self._moments(beta, False)
        return self._sum(1.0 / s - self.correct)

    def conf_gap_and_slope(self, beta: float) -> tuple[float, float]:
        """:meth:`conf_gap` and its derivative ``sum w conf * (-E_p[z']) >= 0``.

        Args:
            beta: inverse temperature ``1/T``.
        """
        s, m1, _ = self._moments(beta, False)
        conf = 1.0 / s
        return self._sum(conf - self.correct), self._sum(-conf * m1)

    def nll(self, beta: float) -> float:
        """Weighted sum of per-sample NLL at ``T = 1/beta``.

        Args:
            beta: inverse temperature ``1/T``.
        """
        s = self.zs * beta
        lse = np.log(np.exp(s).sum(axis=1))
        return self._sum(lse - self.zy * beta)


def in_log_t(fn: Callable[[float], tuple[float, float]], u: float) -> tuple[float, float]:
    """``(h(u), dh/du)`` for ``h(u) = fn(exp(-u))``: a function of ``beta`` seen in ``u = log T``.

    Args:
        fn: ``beta -> (value, d value / d beta)``.
        u: the log temperature.

    Returns:
        ``(fn(beta)[0], -beta * fn(beta)[1])`` with ``beta = exp(-u)``.

    Example:
        >>> in_log_t(lambda beta: (beta, 1.0), 0.0)
        (1.0, -1.0)
    """
    beta = float(np.exp(-u))
    v, dv = fn(beta)
    return v, -beta * dv


def fit_temperature(
    problem: TemperatureProblem,
    objective: str = "nll",
    t_min: float = 1e-2,
    t_max: float = 1e2,
    xtol: float = 1e-10,
    solver: str = "newton",
) -> float:
    """The temperature that zeroes the derivative of the (weighted) NLL in ``log T``.

    ``objective="nll"`` solves ``sum_i w_i (E_{p_i}[z_i] - z_{i,y_i}) = 0`` (the NLL optimum);
    ``objective="ece"`` solves ``sum_i w_i (conf_i - correct_i) = 0`` (mean confidence equals
    accuracy: single-bin calibration). Both left sides are non-increasing in ``log T``, so the
    root is unique; it is found by safeguarded Newton in ``u = log T`` (exact derivatives, kept
    inside a sign bracket; :func:`~gencal.calibration.root_finding.solve_root_newton`;
    ``solver="brent"``: bracket expansion + :func:`scipy.optimize.brentq`) and clipped to
    ``[t_min, t_max]`` (reached when the split is all-correct, say: NLL then keeps falling
    as ``T -> 0``).

    Args:
        problem: the logits, labels and weights.
        objective: ``"nll"`` or ``"ece"``.
        t_min: smallest temperature.
        t_max: largest temperature.
        xtol: tolerance in ``log T``.
        solver: ``"newton"`` or ``"brent"``.

    Returns:
        The fitted temperature.

    Example:
        >>> z = np.array([[2.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
        >>> t = fit_temperature(TemperatureProblem(z, np.array([0, 0, 0]), None))
        >>> bool(abs(2.0 / t - np.log(2.0)) < 1e-8)  # p(correct) = 2/3 on the two alike rows
        True
    """
    if objective == "nll":
        fn = problem.nll_grad_and_slope
    elif objective == "ece":
        fn = problem.conf_gap_and_slope
    else:
        raise GencalInputError(f"objective: expected 'nll' or 'ece', got {objective!r}")
    lo, hi = float(np.log(t_min)), float(np.log(t_max))
    if solver == "newton":
        u = solve_root_newton(lambda u: in_log_t(fn, u), lo, hi, xtol=xtol)
    elif solver == "brent":
        u = solve_nonincreasing_root(lambda u: in_log_t(fn, u)[0], lo, hi, xtol=xtol)
    else:
        raise GencalInputError(f"solver: expected 'newton' or 'brent', got {solver!r}")
    return float(np.exp(u))


class TemperatureAtBoundWarning(UserWarning):
    """Warned when a fitted temperature sits at its bound ``t_min`` or ``t_max``.

    Example:
        >>> import warnings
        >>> z = np.array([[4.0, 0.0], [0.0, 4.0]])
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     _ = TemperatureScaling().fit(z, np.array([0, 1]))  # all correct: T -> t_min
        >>> caught[0].category.__name__
        'TemperatureAtBoundWarning'
    """


def warn_if_temperature_at_bound(owner: str, t: float, t_min: float, t_max: float) -> None:
    """Warn (:class:`TemperatureAtBoundWarning`) when ``t`` is at ``t_min`` or ``t_max``.

    At either bound the NLL kept falling towards it. Probabilities given as logits are a usual
    cause (``inputs="probs"`` converts them): their spread of at most 1 makes softmax nearly
    uniform, so the fit runs to ``t_min`` when the model is accurate. Otherwise the calibration
    split is degenerate: at ``t_min`` (nearly) every sample is correct with a margin (training
    data, too few samples); at ``t_max`` the labels do not go with the logits.

    Args:
        owner: name used in the message.
        t: the fitted temperature.
        t_min: lower bound.
        t_max: upper bound.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     warn_if_temperature_at_bound("ts", 100.0, 0.01, 100.0)
        >>> "inputs='probs'" in str(caught[0].message)
        True
    """
    if t >= t_max * (1 - 1e-9):
        where = f"T = t_max = {t_max:g}: the NLL kept falling as T grew"
        split = "labels that do not go with these logits"
    elif t <= t_min * (1 + 1e-9):
        where = f"T = t_min = {t_min:g}: the NLL kept falling as T -> 0"
        split = (
            "a degenerate calibration set where (nearly) every sample is correct with a margin "
            "(training data, too few samples)"
        )
    else:
        return
    cause = (
        f"{where}. Likely causes: probabilities passed as logits (declare inputs='probs', "
        f"command line --probs), or {split}"
    )
    warnings.warn(
        f"{owner}: fitted temperature at its bound, {cause}",
        TemperatureAtBoundWarning,
        stacklevel=4,
    )


def check_temperature_bounds(t_min: float, t_max: float) -> None:
    """Require ``t_min < t_max``.

    Args:
        t_min: lower temperature bound.
        t_max: upper temperature bound.

    Raises:
        GencalInputError: naming both values.

    Example:
        >>> check_temperature_bounds(0.05, 20.0)
    """
    if not t_min < t_max:
        raise GencalInputError(f"need t_min < t_max, got t_min={t_min}, t_max={t_max}")


class SingleTemperatureCalibrator(Calibrator):
    """Base of calibrators that divide every logit by one fitted ``temperature_``.

    Subclasses implement ``_fit`` and set ``temperature_``; the transform ``z / T`` and the JSON
    state are shared (and :class:`~gencal.calibration.CalibratedModel` applies ``z / T`` in torch).

    Example:
        >>> class Halve(SingleTemperatureCalibrator):
        ...     def _fit(self, z, y, w):
        ...         self.temperature_ = 2.0
        >>> Halve().fit(np.array([[2.0, 0.0], [0.0, 2.0]]), np.array([0, 1])).transform(
        ...     np.array([[4.0, 0.0]])
        ... ).tolist()
        [[2.0, 0.0]]
    """

    temperature_: float

    def _transform(self, z: np.ndarray) -> np.ndarray:
        return z / self.temperature_

    def _get_state(self) -> dict[str, Any]:
        return {"temperature": float(self.temperature_)}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.temperature_ = float(state["temperature"])


@register_calibrator("ts")
class TemperatureScaling(SingleTemperatureCalibrator):
    """Temperature scaling fitted on the (weighted) NLL by 1-D root finding in ``log T``.

    No learning rate, positive by construction, exact to ``xtol=1e-10`` in ``log T``
    (safeguarded Newton on the NLL derivative, typically 4-6 passes over the logits).

    Args:
        t_min: smallest temperature (reached when the NLL keeps falling as ``T -> 0``).
        t_max: largest temperature.
        solver: ``"newton"`` or ``"brent"`` (bracket expansion + :func:`scipy.optimize.brentq`
            on the derivative: same root, about twice the passes).
        inputs: ``"logits"`` (default) or ``"probs"``: what ``fit`` / ``transform`` receive.
        balanced: fit with class-balanced sample weights (times any ``sample_weight``).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(500, 3)) * 4
        >>> y = z.argmax(1)
        >>> y[:150] = rng.integers(0, 3, 150)  # noisy labels: over-confident logits
        >>> cal = TemperatureScaling().fit(z, y)
        >>> bool(cal.temperature_ > 1)
        True
    """

    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "t_min": [Interval(float, 0, None, "neither")],
        "t_max": [Interval(float, 0, None, "neither")],
        "solver": [Options("newton", "brent")],
    }

    def __init__(
        self,
        t_min: float = 1e-2,
        t_max: float = 1e2,
        solver: str = "newton",
        *,
        inputs: Inputs = "logits",
        balanced: bool = False,
    ) -> None:
        super().__init__(inputs=inputs, balanced=balanced)
        self.t_min = t_min
        self.t_max = t_max
        self.solver = solver

    def _check_params(self) -> None:
        check_temperature_bounds(self.t_min, self.t_max)

    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        self.temperature_ = fit_temperature(
            TemperatureProblem(z, y, w), "nll", self.t_min, self.t_max, solver=self.solver
        )
        warn_if_temperature_at_bound(type(self).__name__, self.temperature_, self.t_min, self.t_max)
