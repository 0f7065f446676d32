"""Post-hoc logit adjustment (``la``; Menon et al., ICLR 2021), optionally followed by a
temperature method.

A model trained on long-tailed data learns, roughly, ``z = z_balanced + log(prior)``: its
logits favour the head classes. Logit adjustment subtracts the prior back:

    z_adj = z - tau * log(prior),

with ``prior`` the class distribution of the **training** split (``class_counts=`` or
``prior=``; gencal's bench passes a run's ``train_class_counts``) or, when neither is given, the
label frequencies of the calibration split (samples of positive weight, counted unweighted so
that class-balancing weights do not flatten it; one pseudo-count per class if a class is absent). ``tau`` (``tau=None``, the default) is fitted by minimising the NLL of ``z_adj`` on the
**class-balanced** calibration split, i.e. for a test set with balanced classes: the weights are
``class_balanced_weights(labels)``, or, when sample weights are given, those weights rescaled so
that every class has the same total. The NLL is convex in ``tau`` (the logits are affine in it),
so the bounded scalar minimisation in ``[tau_min, tau_max]`` finds the unique optimum.

Unlike temperature methods, logit adjustment **changes the argmax** (that is its purpose: it
trades head-class for tail-class predictions, raising balanced accuracy on balanced test data);
report accuracy, balanced accuracy and per-group accuracy next to calibration metrics.

Composition: ``then=`` names a calibrator fitted on the adjusted logits (a registry name, or a
mapping ``{"name": ..., **hyperparameters}``), e.g. ``LogitAdjustment(then="ts")``; in bench
configs ``{la+ts: {name: la, then: ts}}``. ``transform`` is then ``then.transform(z_adj)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import minimize_scalar

from gencal._checks import GencalInputError
from gencal.calibration.arrays import class_balanced_weights, log_softmax_np
from gencal.calibration.base import Calibrator, Inputs
from gencal.calibration.params import Constraint, Interval, SequenceOf
from gencal.calibration.registry import get_calibrator, load_calibrator, register_calibrator

__all__ = ["LogitAdjustment", "balanced_nll"]


def balanced_nll(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Weighted mean NLL of logits ``z`` (weights ``w``, any positive total).

    Args:
        z: logits.
        y: integer labels.
        w: non-negative weights.

    Shape:
        ``z``: ``[N, K]``, ``y`` and ``w``: ``[N]``; returns a float.

    Example:
        >>> round(balanced_nll(np.zeros((2, 2)), np.array([0, 1]), np.ones(2)), 6)
        0.693147
    """
    nll = -np.take_along_axis(log_softmax_np(z), y[:, None], axis=1)[:, 0]
    return float(np.average(nll, weights=w))


def _per_class_balanced(y: np.ndarray, w: np.ndarray | None, k: int) -> np.ndarray:
    if w is None:
        return class_balanced_weights(y, k)
    totals = np.bincount(y, weights=w, minlength=k)
    present = int((totals > 0).sum())
    return w * w.sum() / (present * np.where(totals[y] > 0, totals[y], 1.0))


@register_calibrator("la")
class LogitAdjustment(Calibrator):
    """Post-hoc logit adjustment ``z - tau * log(prior)``, ``tau`` fitted on balanced NLL.

    Args:
        tau: fixed adjustment strength; ``None`` (default) fits it.
        prior: class prior of the training split (``[K]``, positive; normalised here).
        class_counts: training-split count per class (``[K]``, positive); used if ``prior`` is
            ``None``.
        then: a calibrator fitted after the adjustment (registry name or
            ``{"name": ..., **hparams}``), or ``None``.
        tau_min: lower bound of the fitted ``tau``.
        tau_max: upper bound of the fitted ``tau``.
        inputs: ``"logits"`` (default) or ``"probs"`` (see :class:`Calibrator`).
        balanced: fit with class-balanced sample weights (see :class:`Calibrator`); ``tau`` is
            always fitted on class-balanced weights.

    Shape:
        ``fit(logits [N, K], labels [N])``; ``transform(logits [M, K]) -> [M, K]``.

    Fitted attributes: ``tau_``, ``log_prior_`` (``[K]``), ``prior_source_`` (``"prior"``,
    ``"class_counts"`` or ``"calibration_split"``), ``then_`` (the fitted follow-up or ``None``).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> prior = np.array([0.7, 0.2, 0.1])
        >>> y = rng.choice(3, size=4000, p=prior)  # long-tailed labels, x | y the same as balanced
        >>> mu = 2.0 * np.eye(3)
        >>> x = mu[y] + rng.normal(size=(4000, 3))
        >>> z_bal = x @ mu.T  # the balanced posterior's logits (up to a per-row constant)
        >>> la = LogitAdjustment(prior=prior.tolist()).fit(z_bal + 1.5 * np.log(prior), y)
        >>> bool(abs(la.tau_ - 1.5) < 0.2)
        True
    """

    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "tau": [Interval(float, None, None, "neither"), None],
        "prior": [SequenceOf(Interval(float, 0, None, "neither")), None],
        "class_counts": [SequenceOf(Interval(int, 1, None, "left")), None],
        "tau_min": [Interval(float, None, None, "neither")],
        "tau_max": [Interval(float, None, None, "neither")],
    }

    def __init__(
        self,
        tau: float | None = None,
        prior: Sequence[float] | None = None,
        class_counts: Sequence[int] | None = None,
        then: str | Mapping[str, Any] | None = None,
        tau_min: float = -2.0,
        tau_max: float = 5.0,
        *,
        inputs: Inputs = "logits",
        balanced: bool = False,
    ) -> None:
        super().__init__(inputs=inputs, balanced=balanced)
        self.tau = tau
        self.prior = prior
        self.class_counts = class_counts
        self.then = then
        self.tau_min = tau_min
        self.tau_max = tau_max

    def _check_params(self) -> None:
        for name in ("prior", "class_counts"):
            v = getattr(self, name)
            if v is not None and len(v) < 2:
                raise GencalInputError(f"{name}: expected K >= 2 positive values, got {v!r}")
        if not self.tau_min < self.tau_max:
            raise GencalInputError(f"need tau_min < tau_max, got {self.tau_min}, {self.tau_max}")
        if self.then is not None:
            self._build_then(self.then)  # validates the name and hyperparameters

    @staticmethod
    def _build_then(then: str | Mapping[str, Any]) -> Calibrator:
        if isinstance(then, str):
            return get_calibrator(then)
        if isinstance(then, Mapping) and "name" in then:
            params = {k: v for k, v in then.items() if k != "name"}
            return get_calibrator(str(then["name"]), **params)
        raise GencalInputError(f"then: expected a calibrator name or {{name: ...}}, got {then!r}")

    def _log_prior(self, y: np.ndarray, w: np.ndarray | None, k: int) -> tuple[np.ndarray, str]:
        if self.prior is not None:
            prior, source = np.asarray(self.prior, dtype=np.float64), "prior"
        elif self.class_counts is not None:
            prior, source = np.asarray(self.class_counts, dtype=np.float64), "class_counts"
        else:
            # label counts, not weighted: class-balancing weights would make them uniform
            kept = y if w is None else y[w > 0]
            counts = np.bincount(kept, minlength=k).astype(np.float64)
            prior = counts + 1.0 if (counts == 0).any() else counts
            source = "calibration_split"
        if prior.size != k:
            raise GencalInputError(f"{source}: has {prior.size} classes but the logits have K={k}")
        return np.log(prior / prior.sum()), source

    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        k = z.shape[1]
        log_prior, source = self._log_prior(y, w, k)
        if self.tau is not None:
            tau = self.tau
        else:
            wb = _per_class_balanced(y, w, k)
            res = minimize_scalar(
                lambda t: balanced_nll(z - t * log_prior, y, wb),
                bounds=(self.tau_min, self.tau_max),
                method="bounded",
                options={"xatol": 1e-7},
            )
            tau = float(res.x)
        self.tau_ = tau
        self.log_prior_ = log_prior
        self.prior_source_ = source
        self.then_ = None
        if self.then is not None:
            self.then_ = self._build_then(self.then).fit(z - tau * log_prior, y, sample_weight=w)

    def adjust(self, logits: Any) -> np.ndarray:
        """``z - tau * log(prior)`` (without the follow-up calibrator), float64 numpy.

        Args:
            logits: ``[N, K]`` logits.

        Returns:
            The adjusted logits ``[N, K]``.

        Example:
            >>> import numpy as np
            >>> la = LogitAdjustment(tau=1.0, prior=[0.5, 0.5]).fit(3 * np.eye(2), np.array([0, 1]))
            >>> (la.adjust(np.zeros((1, 2))) - np.log(2)).round(6).tolist()
            [[0.0, 0.0]]
        """
        z, _ = self._check_transform_input(logits)
        return z - self.tau_ * self.log_prior_

    def _transform(self, z: np.ndarray) -> np.ndarray:
        za = z - self.tau_ * self.log_prior_
        return za if self.then_ is None else np.asarray(self.then_.transform(za))

    def _predict_proba(self, z: np.ndarray) -> np.ndarray:
        za = z - self.tau_ * self.log_prior_
        if self.then_ is None:
            return np.exp(log_softmax_np(za))
        return np.asarray(self.then_.predict_proba(za))

    def _get_state(self) -> dict[str, Any]:
        return {
            "tau": float(self.tau_),
            "log_prior": self.log_prior_.tolist(),
            "prior_source": self.prior_source_,
            "then": None if self.then_ is None else self.then_.to_json(),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self.tau_ = float(state["tau"])
        self.log_prior_ = np.asarray(state["log_prior"], dtype=np.float64)
        self.prior_source_ = str(state["prior_source"])
        self.then_ = None if state.get("then") is None else load_calibrator(state["then"])

    def __repr__(self) -> str:
        base = super().__repr__()
        if not self.is_fitted:
            return base
        return f"{base} [fitted: tau_={self.tau_:.4g}, prior from {self.prior_source_}]"
