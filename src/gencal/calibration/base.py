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
  (atomic) and :func:`load_calibrator` (dispatches on the ``"name"`` field).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from gencal._checks import GencalInputError, NotFittedError, as_tensor, check_labels
from gencal.calibration.arrays import (
    as_input_type,
    check_sample_weight,
    softmax_np,
    to_numpy_logits,
)
from gencal.io import atomic_write_json

__all__ = ["FORMAT_VERSION", "PROB_FLOOR", "Calibrator"]

#: Smallest probability returned by calibrators that output probabilities (isotonic, histogram).
PROB_FLOOR = 1e-12
#: Version of the JSON layout written by :meth:`Calibrator.to_json`.
FORMAT_VERSION = 1


class Calibrator:
    """Base class of post-hoc calibrators (scikit-learn style: ``fit`` returns ``self``).

    Subclasses implement ``_fit(z, y, w)`` on float64 numpy arrays (``w`` is ``None`` or
    non-negative weights), ``_transform(z) -> calibrated logits`` and optionally
    ``_predict_proba``; ``_get_state() -> dict`` / ``_set_state(dict)`` hold the fitted parameters
    as JSON-able values; ``_hparams`` lists the constructor arguments saved in JSON.
    """

    name: ClassVar[str] = "base"
    _hparams: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.num_classes_: int | None = None

    # ------------------------------------------------------------------ public API
    @property
    def is_fitted(self) -> bool:
        return self.num_classes_ is not None

    def get_params(self) -> dict[str, Any]:
        """Constructor hyperparameters (JSON-able)."""
        return {k: _jsonable(getattr(self, k)) for k in self._hparams}

    def fit(self, logits: Any, labels: Any, sample_weight: Any = None) -> Calibrator:
        """Fit on a calibration split: ``logits [N, K]``, integer ``labels [N]``."""
        z = to_numpy_logits(logits)
        n, k = z.shape
        if n == 0:
            raise GencalInputError("logits: the calibration split is empty")
        y_t = as_tensor(labels, "labels")
        if y_t.ndim == 1 and y_t.shape[0] != n:
            raise GencalInputError(
                f"length mismatch: logits has {n} rows but labels has {y_t.shape[0]}"
            )
        check_labels(y_t, k, n=n)
        y = y_t.detach().cpu().numpy().astype(np.int64)
        if np.count_nonzero(np.bincount(y, minlength=k)) < 2:
            raise GencalInputError(
                f"labels: the calibration split holds a single class ({int(y[0])}); "
                "calibration needs at least two classes"
            )
        w = check_sample_weight(sample_weight, n)
        self._fit(z, y, w)
        self.num_classes_ = k
        return self

    def transform(self, logits: Any) -> Any:
        """Calibrated logits (same type/dtype/device as the input)."""
        z = self._check_transform_input(logits)
        return as_input_type(self._transform(z), logits)

    def predict_proba(self, logits: Any) -> Any:
        """Calibrated probabilities ``[N, K]`` (rows sum to 1), same type as the input."""
        z = self._check_transform_input(logits)
        return as_input_type(self._predict_proba(z), logits)

    def fit_transform(self, logits: Any, labels: Any, sample_weight: Any = None) -> Any:
        return self.fit(logits, labels, sample_weight).transform(logits)

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict[str, Any]:
        """Plain-JSON description: name, hyperparameters and fitted state."""
        return {
            "name": self.name,
            "format_version": FORMAT_VERSION,
            "params": self.get_params(),
            "num_classes": self.num_classes_,
            "state": self._get_state() if self.is_fitted else None,
        }

    #: Alias used by docs/architecture.md.
    def state_dict_json(self) -> dict[str, Any]:
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
        """Write :meth:`to_json` to ``path`` atomically."""
        return atomic_write_json(path, self.to_json())

    @staticmethod
    def load(path: str | os.PathLike[str]) -> Calibrator:
        """Load any saved calibrator (same as :func:`load_calibrator`)."""
        from gencal.calibration.registry import load_calibrator

        return load_calibrator(path)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

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
    def _check_transform_input(self, logits: Any) -> np.ndarray:
        if not self.is_fitted:
            raise NotFittedError(
                f"{type(self).__name__} ({self.name!r}) is not fitted yet: "
                "call fit(cal_logits, cal_labels) first"
            )
        z = to_numpy_logits(logits)
        if z.shape[1] != self.num_classes_:
            raise GencalInputError(
                f"logits: has K={z.shape[1]} classes but the calibrator was fitted "
                f"with K={self.num_classes_}"
            )
        return z


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, tuple):
        return list(v)
    return v
