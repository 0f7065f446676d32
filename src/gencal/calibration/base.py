"""The :class:`Calibrator` base class, the registry and plain-JSON persistence.

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

import inspect
import json
import os
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch

from gencal._checks import (
    GencalInputError,
    NotFittedError,
    as_tensor,
    check_labels,
    check_logits,
)
from gencal.io import atomic_write_json

__all__ = [
    "PROB_FLOOR",
    "Calibrator",
    "class_balanced_weights",
    "get_calibrator",
    "list_calibrators",
    "load_calibrator",
    "register_calibrator",
]

#: Smallest probability returned by calibrators that output probabilities (isotonic, histogram).
PROB_FLOOR = 1e-12
#: Version of the JSON layout written by :meth:`Calibrator.to_json`.
FORMAT_VERSION = 1

_REGISTRY: dict[str, type[Calibrator]] = {}
C = TypeVar("C", bound="type[Calibrator]")


def register_calibrator(name: str):
    """Class decorator: register a :class:`Calibrator` subclass under ``name``."""

    def deco(cls: C) -> C:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"calibrator name {name!r} is already registered")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _ensure_registered() -> None:
    # Importing the package imports every calibrator module (each registers itself).
    import gencal.calibration  # noqa: F401


def list_calibrators() -> list[str]:
    """Names accepted by :func:`get_calibrator`, sorted."""
    _ensure_registered()
    return sorted(_REGISTRY)


def get_calibrator(name: str, **hparams: Any) -> Calibrator:
    """Build an unfitted calibrator by name, e.g. ``get_calibrator("ats", n_pieces=8)``."""
    _ensure_registered()
    if name not in _REGISTRY:
        raise GencalInputError(
            f"unknown calibrator {name!r}; available: {', '.join(sorted(_REGISTRY))}"
        )
    cls = _REGISTRY[name]
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(hparams) - set(valid))
    if unknown:
        raise GencalInputError(
            f"calibrator {name!r} has no hyperparameter {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(valid) or '(none)'}"
        )
    return cls(**hparams)


def load_calibrator(path_or_dict: str | os.PathLike[str] | dict[str, Any]) -> Calibrator:
    """Load a calibrator saved with :meth:`Calibrator.save` (or from its ``to_json()`` dict)."""
    if isinstance(path_or_dict, dict):
        d = path_or_dict
    else:
        d = json.loads(Path(path_or_dict).read_text(encoding="utf-8"))
    if not isinstance(d, dict) or "name" not in d:
        raise GencalInputError("not a saved gencal calibrator: no 'name' field")
    _ensure_registered()
    name = d["name"]
    if name not in _REGISTRY:
        raise GencalInputError(f"saved calibrator has unknown name {name!r}")
    return _REGISTRY[name].from_json(d)


def class_balanced_weights(labels: Any, num_classes: int | None = None) -> np.ndarray:
    """Per-sample weights ``w_i = N / (C * n_{y_i})`` (C = number of classes present).

    Every present class gets the same total weight ``N / C`` and the weights average to 1, so
    hyperparameters counted in samples (e.g. ATS's ``min_piece_size``) keep their meaning.
    Returns float64 numpy ``[N]``.
    """
    y = as_tensor(labels, "labels")
    k = int(y.max()) + 1 if (num_classes is None and y.numel()) else (num_classes or 0)
    check_labels(y, max(k, 1), name="labels")
    y_np = y.detach().cpu().numpy().astype(np.int64)
    if y_np.size == 0:
        raise GencalInputError("labels: empty")
    counts = np.bincount(y_np, minlength=k)
    present = int((counts > 0).sum())
    return (y_np.size / (present * counts[y_np])).astype(np.float64)


# ----------------------------------------------------------------------------- array helpers


def _to_numpy_logits(logits: Any, name: str = "logits") -> np.ndarray:
    """Validated float64 numpy copy of ``logits [N, K]`` (K >= 2, all finite).

    The shape/dtype checks are :func:`gencal._checks.check_logits`; the finiteness check runs
    in numpy on the float64 copy (same message), which is much cheaper than a torch pass on a
    busy CPU.
    """
    t = as_tensor(logits, name)
    check_logits(t, name, values=False)
    if t.shape[1] < 2:
        raise GencalInputError(f"{name}: need at least 2 classes, got K={t.shape[1]}")
    if isinstance(logits, np.ndarray):
        z = np.asarray(logits, dtype=np.float64)
    else:
        z = t.detach().cpu().to(torch.float64).numpy()
    if not np.isfinite(z).all():
        n_nan = int(np.isnan(z).sum())
        n_inf = int(np.isinf(z).sum())
        raise GencalInputError(f"{name}: contains non-finite values ({n_nan} NaN, {n_inf} inf)")
    return z


def _like(out: np.ndarray, ref: Any) -> Any:
    """Return float64 ``out`` as the type of ``ref``: numpy/tensor, same float dtype, device."""
    if isinstance(ref, torch.Tensor):
        dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
        return torch.from_numpy(np.ascontiguousarray(out)).to(device=ref.device, dtype=dtype)
    ref_dtype = getattr(ref, "dtype", None)
    if ref_dtype is not None and np.issubdtype(ref_dtype, np.floating):
        return out.astype(ref_dtype, copy=False)
    return out


def softmax_np(z: np.ndarray) -> np.ndarray:
    """Row softmax of float64 logits (stable)."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def log_softmax_np(z: np.ndarray) -> np.ndarray:
    """Row log-softmax of float64 logits (stable)."""
    s = z - z.max(axis=1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


def top_confidence_np(z: np.ndarray) -> np.ndarray:
    """Top-label softmax probability ``max_k softmax(z)_k`` per row (float64)."""
    s = z - z.max(axis=1, keepdims=True)
    return 1.0 / np.exp(s).sum(axis=1)


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
        z = _to_numpy_logits(logits)
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
        w = self._check_weight(sample_weight, n)
        self._fit(z, y, w)
        self.num_classes_ = k
        return self

    def transform(self, logits: Any) -> Any:
        """Calibrated logits (same type/dtype/device as the input)."""
        z = self._check_transform_input(logits)
        return _like(self._transform(z), logits)

    def predict_proba(self, logits: Any) -> Any:
        """Calibrated probabilities ``[N, K]`` (rows sum to 1), same type as the input."""
        z = self._check_transform_input(logits)
        return _like(self._predict_proba(z), logits)

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
        z = _to_numpy_logits(logits)
        if z.shape[1] != self.num_classes_:
            raise GencalInputError(
                f"logits: has K={z.shape[1]} classes but the calibrator was fitted "
                f"with K={self.num_classes_}"
            )
        return z

    @staticmethod
    def _check_weight(sample_weight: Any, n: int) -> np.ndarray | None:
        if sample_weight is None:
            return None
        w = as_tensor(sample_weight, "sample_weight").detach().cpu().to(torch.float64).numpy()
        if w.ndim != 1:
            raise GencalInputError(f"sample_weight: expected shape [N], got {w.shape}")
        if w.shape[0] != n:
            raise GencalInputError(
                f"length mismatch: logits has {n} rows but sample_weight has {w.shape[0]}"
            )
        if not np.isfinite(w).all():
            raise GencalInputError("sample_weight: contains NaN or inf")
        if (w < 0).any():
            raise GencalInputError("sample_weight: must be non-negative")
        if w.sum() <= 0:
            raise GencalInputError("sample_weight: the weights sum to zero")
        return w


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, tuple):
        return list(v)
    return v
