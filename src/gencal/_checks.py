"""Input validation shared by losses, metrics and calibrators.

Every public entry point validates what it is given and raises :class:`GencalInputError`
(a ``ValueError``) with a message that names the argument and the problem. Checks that need
the values (NaN, label range) synchronise with the device; callers on a hot path can skip
them with ``validate_args=False`` (the torchmetrics convention).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = [
    "GencalInputError",
    "InputLooksLikeProbabilitiesWarning",
    "NotFittedError",
    "as_tensor",
    "check_labels",
    "check_logits",
    "check_probs",
    "check_same_length",
]


class GencalInputError(ValueError):
    """Raised for bad user input: NaN/inf values, bad shapes, labels out of range, ..."""


class NotFittedError(RuntimeError):
    """Raised when a calibrator (or other fitted object) is used before ``fit``."""


class InputLooksLikeProbabilitiesWarning(UserWarning):
    """Warned when logits were expected but every row is non-negative and sums to 1."""


def as_tensor(x: Any, name: str, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Convert a numpy array, list or tensor to a tensor without copying when possible."""
    if isinstance(x, torch.Tensor):
        t = x
    elif isinstance(x, np.ndarray):
        if x.dtype == object:
            raise GencalInputError(f"{name}: object arrays are not supported (got dtype=object)")
        t = torch.from_numpy(np.ascontiguousarray(x))
    else:
        try:
            t = torch.as_tensor(x)
        except Exception as exc:  # pragma: no cover - message is what matters
            raise GencalInputError(
                f"{name}: cannot convert {type(x).__name__} to a tensor"
            ) from exc
    if dtype is not None:
        t = t.to(dtype)
    return t


def check_logits(logits: torch.Tensor, name: str = "logits", *, values: bool = True) -> None:
    """Require a floating [N, K] tensor (K >= 1) with finite values."""
    if not isinstance(logits, torch.Tensor):
        raise GencalInputError(f"{name}: expected a torch.Tensor, got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise GencalInputError(
            f"{name}: expected a floating-point tensor of logits, got dtype {logits.dtype}"
        )
    if logits.ndim != 2:
        raise GencalInputError(
            f"{name}: expected shape [N, K] (samples x classes), got {tuple(logits.shape)}"
        )
    if values and logits.numel() and not bool(torch.isfinite(logits).all()):
        n_nan = int(torch.isnan(logits).sum())
        n_inf = int(torch.isinf(logits).sum())
        raise GencalInputError(f"{name}: contains non-finite values ({n_nan} NaN, {n_inf} inf)")


def check_labels(
    labels: torch.Tensor,
    num_classes: int,
    n: int | None = None,
    name: str = "labels",
    *,
    ignore_index: int | None = None,
    values: bool = True,
) -> None:
    """Require an integer [N] tensor with values in [0, num_classes) (or ``ignore_index``)."""
    if not isinstance(labels, torch.Tensor):
        raise GencalInputError(f"{name}: expected a torch.Tensor, got {type(labels).__name__}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise GencalInputError(
            f"{name}: expected integer class indices, got dtype {labels.dtype}"
            " (pass class indices, not one-hot vectors or probabilities)"
        )
    if labels.ndim != 1:
        raise GencalInputError(f"{name}: expected shape [N], got {tuple(labels.shape)}")
    if n is not None and labels.shape[0] != n:
        raise GencalInputError(
            f"{name}: length {labels.shape[0]} does not match the {n} rows of the scores"
        )
    if values and labels.numel():
        valid = labels if ignore_index is None else labels[labels != ignore_index]
        if valid.numel():
            lo, hi = int(valid.min()), int(valid.max())
            if lo < 0 or hi >= num_classes:
                bad = lo if lo < 0 else hi
                raise GencalInputError(
                    f"{name}: label {bad} is out of range for {num_classes} classes "
                    f"(expected 0..{num_classes - 1})"
                )


def check_probs(
    probs: torch.Tensor, name: str = "probs", *, atol: float | None = None, values: bool = True
) -> None:
    """Require a floating [N, K] tensor of probabilities in [0, 1] whose rows sum to 1.

    ``atol`` defaults to 1e-3 for float16/bfloat16 and 1e-4 otherwise (per-row |sum - 1|).
    """
    if not isinstance(probs, torch.Tensor):
        raise GencalInputError(f"{name}: expected a torch.Tensor, got {type(probs).__name__}")
    if not probs.is_floating_point():
        raise GencalInputError(f"{name}: expected floating-point probabilities, got {probs.dtype}")
    if probs.ndim != 2:
        raise GencalInputError(f"{name}: expected shape [N, K], got {tuple(probs.shape)}")
    if not values or not probs.numel():
        return
    if not bool(torch.isfinite(probs).all()):
        raise GencalInputError(f"{name}: contains NaN or inf")
    if bool((probs < 0).any()) or bool((probs > 1).any()):
        raise GencalInputError(f"{name}: values must lie in [0, 1]")
    if atol is None:
        atol = 1e-3 if probs.dtype in (torch.float16, torch.bfloat16) else 1e-4
    err = (probs.double().sum(dim=1) - 1.0).abs()
    worst = float(err.max())
    if worst > atol:
        raise GencalInputError(
            f"{name}: rows must sum to 1 (worst row is off by {worst:.3g}); "
            "did you pass logits? use logits=... instead"
        )


def check_same_length(**arrays: Any) -> None:
    """Require that all given arrays/tensors have the same first dimension."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise GencalInputError(f"length mismatch: {desc}")
