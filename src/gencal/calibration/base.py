"""The :class:`Calibrator` base class: input checks, the fit/transform contract, plain JSON.

Conventions (all calibrators):

- Inputs are **logits** ``[N, K]`` (numpy array or torch tensor, any float dtype) and integer
  labels ``[N]``. Fitting runs in float64 numpy on the CPU (calibration splits are small);
  ``transform`` / ``predict_proba`` return the type they were given: numpy in -> numpy out (same
  float dtype), torch in -> torch out (same dtype and device).
- ``transform`` returns calibrated *logits*; ``predict_proba(z) == softmax(transform(z))``.
  Calibrators that output probabilities directly (isotonic, histogram) return ``log(probs)``
  from ``transform`` (their probabilities are floored at ``PROB_FLOOR`` and renormalised, so the
  log is finite and the identity holds).
- ``sample_weight`` (``[N]``, non-negative, finite, positive sum) weights each sample's term in
  the fitting objective; a weight of 2 is the same as the sample appearing twice.
  :func:`class_balanced_weights` gives weights for long-tailed calibration splits.
- Persistence is plain JSON (never pickle): ``to_json()`` / ``from_json()``, ``save(path)``
  (atomic) and :func:`~gencal.calibration.load_calibrator` (dispatches on the ``"name"`` field).
- scikit-learn estimator API: ``get_params`` / ``set_params`` / :func:`sklearn.base.clone`,
  ``predict`` (argmax) and ``score`` (negative mean NLL, higher is better), so calibrators work
  in scikit-learn model selection. Constructor arguments are stored as given and checked against
  the class's ``_parameter_constraints`` by ``get_calibrator`` and at ``fit``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from sklearn.base import BaseEstimator

from gencal._checks import (
    GencalInputError,
    InputLooksLikeProbabilitiesWarning,
    NotFittedError,
    as_tensor,
    check_labels,
)
from gencal.calibration.arrays import (
    PROBS_ATOL,
    as_input_type,
    check_sample_weight,
    class_balanced_weights,
    log_probabilities,
    log_softmax_np,
    looks_like_probabilities,
    single_column_shape,
    softmax_np,
    to_numpy_logits,
    two_columns,
)
from gencal.calibration.params import Constraint, Options, validate_params
from gencal.io import atomic_write_json

__all__ = ["FORMAT_VERSION", "PROB_FLOOR", "Calibrator", "Inputs"]

#: What a calibrator's inputs are: logits (default) or probabilities (converted by ``log``).
Inputs = Literal["logits", "probs"]

#: Smallest probability returned by calibrators that output probabilities (isotonic, histogram).
PROB_FLOOR = 1e-12
#: Version of the JSON layout written by :meth:`Calibrator.to_json`.
FORMAT_VERSION = 1


class Calibrator(BaseEstimator):
    """Base class of post-hoc calibrators (a scikit-learn estimator; ``fit`` returns ``self``).

    Subclasses implement ``_fit(z, y, w)`` on float64 numpy arrays (``w`` is ``None`` or
    non-negative weights), ``_transform(z) -> calibrated logits`` and optionally
    ``_predict_proba``; ``_get_state() -> dict`` / ``_set_state(dict)`` hold the fitted
    parameters as JSON-able values. Their constructor arguments are the hyperparameters (stored
    unchanged, as scikit-learn requires) and ``_parameter_constraints`` declares what each may be.

    Args:
        inputs: ``"logits"`` (default) or ``"probs"``: probabilities are converted by ``log p``
            (floored at ``LOG_PROBS_FLOOR``), which is exact for temperature methods since
            softmax ignores a per-row shift. Undeclared input that looks like probabilities
            (every entry ``>= 0``, every row summing to 1 within ``1e-4``) warns
            (:class:`~gencal.InputLooksLikeProbabilitiesWarning`).
        balanced: fit with :func:`~gencal.calibration.class_balanced_weights` of the labels,
            multiplied with any ``sample_weight`` (every class gets the same total weight).

    Shape:
        ``logits``: ``[N, K]``; ``labels``, ``sample_weight``: ``[N]``; ``transform`` and
        ``predict_proba`` return ``[N, K]``, ``predict`` returns ``[N]``.

    Example:
        >>> from gencal.calibration import get_calibrator
        >>> z = np.array([[3.0, 0.0], [0.0, 3.0], [3.0, 0.0], [0.0, 3.0]])
        >>> cal = get_calibrator("ts").fit(z, np.array([0, 1, 1, 1]))
        >>> cal.predict(z).tolist(), cal.predict_proba(z).shape
        ([0, 1, 0, 1], (4, 2))
    """

    name: ClassVar[str] = "base"
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "inputs": [Options("logits", "probs")],
        "balanced": [bool],
    }

    def __init__(self, *, inputs: Inputs = "logits", balanced: bool = False) -> None:
        self.inputs = inputs
        self.balanced = balanced

    # ------------------------------------------------------------------ estimator API
    @property
    def is_fitted(self) -> bool:
        """Whether ``fit`` (or loading a fitted state) has happened."""
        return getattr(self, "num_classes_", None) is not None

    def __sklearn_is_fitted__(self) -> bool:
        return self.is_fitted

    def set_params(self, **params: Any) -> Calibrator:
        """Set hyperparameters by name (checked at the next ``fit``); returns ``self``.

        Args:
            **params: hyperparameter names and values.

        Raises:
            GencalInputError: a name that is not a hyperparameter (the valid ones are listed).

        Example:
            >>> from gencal.calibration import get_calibrator
            >>> get_calibrator("ats").set_params(shrinkage=10.0).shrinkage
            10.0
        """
        valid = self._get_param_names()
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise GencalInputError(
                f"{type(self).__name__} has no hyperparameter {', '.join(map(repr, unknown))}; "
                f"valid: {', '.join(valid) or '(none)'}"
            )
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def _validate_params(self) -> None:
        """Check the hyperparameters against ``_parameter_constraints`` (of the whole MRO)."""
        constraints: dict[str, list[Constraint]] = {}
        for klass in reversed(type(self).__mro__):
            constraints.update(getattr(klass, "_parameter_constraints", {}) or {})
        validate_params(type(self).__name__, self.get_params(deep=False), constraints)
        self._check_params()

    def _check_params(self) -> None:
        """Checks across parameters (e.g. ``t_min < t_max``); subclasses extend it."""

    def fit(self, logits: Any, labels: Any, sample_weight: Any = None) -> Calibrator:
        """Fit on a calibration split.

        Args:
            logits: the calibration split's logits (numpy or torch, any float dtype), or
                probabilities with ``inputs="probs"``; a binary problem may give one column
                (the logit or probability of class 1).
            labels: integer class indices.
            sample_weight: optional non-negative weights (a weight of 2 is a duplicated sample).
                With ``balanced=True`` they are multiplied by
                :func:`~gencal.calibration.class_balanced_weights` of ``labels``.

        Shape:
            ``logits``: ``[N, K]``, or ``[N]`` / ``[N, 1]`` for two classes;
            ``labels``, ``sample_weight``: ``[N]``.

        Returns:
            ``self``.

        Raises:
            GencalInputError: bad hyperparameters, NaN/inf logits, mismatched lengths, labels
                out of range or not integer, a single-class split, bad weights.
        """
        self._validate_params()
        z, _ = self._input_logits(logits)
        n, k = z.shape
        if n == 0:
            raise GencalInputError("logits: the calibration split is empty")
        y = self._check_fit_labels(labels, n, k)
        w = check_sample_weight(sample_weight, n)
        if self.balanced:
            cb = class_balanced_weights(y, k)
            w = cb if w is None else w * cb
        self._fit(z, y, w)
        self.num_classes_ = k
        return self

    def transform(self, logits: Any) -> Any:
        """Calibrated logits, same type, dtype, device and layout as the input.

        Args:
            logits: logits (probabilities with ``inputs="probs"``).

        Shape:
            ``logits``: ``[N, K]``; output ``[N, K]``. A single column ``[N]`` / ``[N, 1]``
            (binary) gives the calibrated logit of class 1 in the same shape.
        """
        z, shape = self._check_transform_input(logits)
        out = self._transform(z)
        if shape is not None:
            out = (out[:, 1] - out[:, 0]).reshape(shape)
        return as_input_type(out, logits)

    def predict_proba(self, logits: Any) -> Any:
        """Calibrated probabilities (rows sum to 1), same type, dtype, device and layout.

        Args:
            logits: logits (probabilities with ``inputs="probs"``).

        Shape:
            ``logits``: ``[N, K]``; output ``[N, K]``. A single column ``[N]`` / ``[N, 1]``
            (binary) gives the calibrated probability of class 1 in the same shape.
        """
        z, shape = self._check_transform_input(logits)
        p = self._predict_proba(z)
        if shape is not None:
            p = p[:, 1].reshape(shape)
        return as_input_type(p, logits)

    def predict(self, logits: Any) -> Any:
        """Predicted class: argmax of the calibrated probabilities (first maximal index on ties).

        Args:
            logits: logits (probabilities with ``inputs="probs"``).

        Shape:
            ``logits``: ``[N, K]`` (or a binary single column); output ``[N]`` int64 (a tensor
            on the input's device for tensor input, numpy otherwise).
        """
        z, _ = self._check_transform_input(logits)
        pred = self._predict_proba(z).argmax(axis=1)
        if isinstance(logits, torch.Tensor):
            return torch.from_numpy(pred).to(logits.device)
        return pred

    def score(self, logits: Any, labels: Any, sample_weight: Any = None) -> float:
        """Negative (weighted) mean NLL of the calibrated probabilities: higher is better.

        This is the score scikit-learn's model selection (``GridSearchCV``,
        ``cross_val_score``) maximises when no ``scoring`` is given.

        Args:
            logits: logits (probabilities with ``inputs="probs"``).
            labels: integer class indices.
            sample_weight: optional weights of the mean.

        Shape:
            ``logits``: ``[N, K]`` (or a binary single column); ``labels``,
            ``sample_weight``: ``[N]``.
        """
        z, _ = self._check_transform_input(logits)
        y = self._check_fit_labels(labels, z.shape[0], z.shape[1], need_two=False)
        w = check_sample_weight(sample_weight, z.shape[0])
        nll = -log_softmax_np(self._transform(z))[np.arange(len(y)), y]
        return -float(nll.mean() if w is None else (w @ nll) / w.sum())

    def fit_transform(self, logits: Any, labels: Any, sample_weight: Any = None) -> Any:
        """``fit`` then ``transform`` the same logits.

        Args:
            logits: the calibration split's logits.
            labels: integer class indices.
            sample_weight: optional non-negative weights.
        """
        return self.fit(logits, labels, sample_weight).transform(logits)

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict[str, Any]:
        """Plain-JSON description: name, hyperparameters and fitted state.

        Example:
            >>> from gencal.calibration import get_calibrator
            >>> sorted(get_calibrator("none").to_json())
            ['format_version', 'name', 'num_classes', 'params', 'state']
        """
        return {
            "name": self.name,
            "format_version": FORMAT_VERSION,
            "params": {k: _jsonable(v) for k, v in self.get_params(deep=False).items()},
            "num_classes": getattr(self, "num_classes_", None),
            "state": self._get_state() if self.is_fitted else None,
        }

    def state_dict_json(self) -> dict[str, Any]:
        """Alias of :meth:`to_json` (the name used in docs/architecture.md)."""
        return self.to_json()

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Calibrator:
        """Rebuild a calibrator from :meth:`to_json` output (dispatches on ``d["name"]``)."""
        if cls is Calibrator:
            from gencal.calibration.registry import load_calibrator

            return load_calibrator(d)
        if d.get("name") != cls.name:
            raise GencalInputError(f"JSON is for calibrator {d.get('name')!r}, not {cls.name!r}")
        obj = cls(**d.get("params", {}))
        if d.get("state") is not None:
            obj._set_state(d["state"])
            obj.num_classes_ = int(d["num_classes"])
        return obj

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_json` to ``path`` atomically; returns the path.

        Args:
            path: the JSON file to write.
        """
        return atomic_write_json(path, self.to_json())

    @staticmethod
    def load(path: str | os.PathLike[str]) -> Calibrator:
        """Load any saved calibrator (same as :func:`~gencal.calibration.load_calibrator`)."""
        from gencal.calibration.registry import load_calibrator

        return load_calibrator(path)

    # ------------------------------------------------------------------ for subclasses
    def _fit(self, z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> None:
        raise NotImplementedError

    def _transform(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _predict_proba(self, z: np.ndarray) -> np.ndarray:
        return softmax_np(self._transform(z))

    def _get_state(self) -> dict[str, Any]:
        return {}

    def _set_state(self, state: dict[str, Any]) -> None:
        pass

    # ------------------------------------------------------------------ checks
    @staticmethod
    def _check_fit_labels(labels: Any, n: int, k: int, need_two: bool = True) -> np.ndarray:
        y_t = as_tensor(labels, "labels")
        if y_t.ndim == 1 and y_t.shape[0] != n:
            raise GencalInputError(
                f"length mismatch: logits has {n} rows but labels has {y_t.shape[0]}"
            )
        check_labels(y_t, k, n=n)
        y = y_t.detach().cpu().numpy().astype(np.int64)
        if need_two and np.count_nonzero(np.bincount(y, minlength=k)) < 2:
            raise GencalInputError(
                f"labels: the calibration split holds a single class ({int(y[0])}); "
                "calibration needs at least two classes"
            )
        return y

    def _input_logits(self, x: Any) -> tuple[np.ndarray, tuple[int, ...] | None]:
        """float64 logits ``[N, K]`` of the input and, for a binary single column, its shape.

        ``inputs="probs"``: ``log p`` of checked probabilities; else checked logits (with a
        warning when they look like probabilities).
        """
        shape = single_column_shape(x)
        if shape is not None:
            x = two_columns(x, self.inputs)
        if self.inputs == "probs":
            half = getattr(x, "dtype", None) in (torch.float16, torch.bfloat16, np.float16)
            atol = 1e-3 if half else PROBS_ATOL  # half precision rounds row sums to ~1e-3
            return log_probabilities(to_numpy_logits(x, "probs"), atol=atol), shape
        z = to_numpy_logits(x)
        if looks_like_probabilities(z):
            warnings.warn(
                f"{type(self).__name__}: the logits look like probabilities (all {z.shape[0]} "
                f"rows of {z.shape[1]} values are >= 0 and sum to 1); if they are, declare it "
                "with inputs='probs' (command line: --probs), since softmax of probabilities "
                "is not the model's distribution",
                InputLooksLikeProbabilitiesWarning,
                stacklevel=3,
            )
        return z, shape

    def _check_transform_input(self, logits: Any) -> tuple[np.ndarray, tuple[int, ...] | None]:
        if not self.is_fitted:
            raise NotFittedError(
                f"{type(self).__name__} ({self.name!r}) is not fitted yet: "
                "call fit(cal_logits, cal_labels) first"
            )
        z, shape = self._input_logits(logits)
        if z.shape[1] != self.num_classes_:
            raise GencalInputError(
                f"logits: has K={z.shape[1]} classes but the calibrator was fitted "
                f"with K={self.num_classes_}"
            )
        return z, shape


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v
