"""Input conversion and fast validation shared by the metrics.

Binary problems: scores of shape ``[N]`` or ``[N, 1]`` are the positive class's logit or
probability (the sigmoid convention) and become the two columns ``[-, +]`` here
(:func:`two_columns`), so that every metric sees ``[N, 2]``.

Validation reuses :mod:`gencal._checks` for shapes/dtypes/labels and does the value checks on
``[N, K]`` tensors in a single ``aminmax`` pass plus one row-sum pass (``torch.isfinite(x).all()``
and a float64 copy of the matrix would cost more than computing every metric). Large CPU
probability matrices skip both: the fused row pass of :mod:`gencal.metrics._kernels` returns the
minimum, maximum and worst row sum together with the max / argmax == label / ``p_y``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import torch

from gencal._checks import (
    GencalInputError,
    as_tensor,
    check_labels,
    check_logits,
    check_probs,
)
from gencal.metrics import _kernels

__all__ = [
    "Inputs",
    "Prepared",
    "check_inputs",
    "prepare",
    "prepare_from_logits",
    "prepare_from_probs",
    "to_float",
    "to_labels",
    "two_columns",
]

Inputs = Literal["logits", "probs"]


def to_float(x: Any, name: str) -> torch.Tensor:
    """Tensor view of ``x``; float16/bfloat16 are promoted to float32 (computation dtype)."""
    t = as_tensor(x, name)
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    return t


def to_labels(x: Any, name: str = "labels") -> torch.Tensor:
    """Integer class-index tensor (int64); floating or boolean labels are rejected."""
    t = as_tensor(x, name)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise GencalInputError(
            f"{name}: expected integer class indices, got dtype {t.dtype}"
            " (pass class indices, not one-hot vectors or probabilities)"
        )
    return t.long() if t.dtype != torch.int64 else t


def _check_finite_fast(x: torch.Tensor, name: str) -> tuple[float, float]:
    """Raise if ``x`` holds NaN/inf; return (min, max). One ``aminmax`` pass (NaN propagates)."""
    lo, hi = torch.aminmax(x)
    lo_f, hi_f = float(lo), float(hi)
    if not (math.isfinite(lo_f) and math.isfinite(hi_f)):
        _raise_non_finite(x, name)
    return lo_f, hi_f


def _raise_non_finite(x: torch.Tensor, name: str) -> None:
    n_nan = int(torch.isnan(x).sum())
    n_inf = int(torch.isinf(x).sum())
    raise GencalInputError(f"{name}: contains non-finite values ({n_nan} NaN, {n_inf} inf)")


def check_probs_fast(
    probs: torch.Tensor,
    name: str = "probs",
    atol: float | None = None,
    row_max: torch.Tensor | None = None,
) -> None:
    """Same contract as :func:`gencal._checks.check_probs` in two passes over the matrix
    (``amin`` and the row sums; the maximum comes from ``row_max`` when the caller already took
    it). NaN and inf propagate into the minimum, the row maxima or the row sums."""
    check_probs(probs, name, values=False)
    if not probs.numel():
        return
    lo = float(probs.amin())
    hi = float(row_max.max()) if row_max is not None else float(probs.amax())
    err = (probs.sum(dim=1) - 1.0).abs()
    worst = float(err.max())
    if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(worst)):
        _raise_non_finite(probs, name)
    _check_probs_values(probs, lo, hi, worst, atol, name)


def _check_probs_values(
    probs: torch.Tensor, lo: float, hi: float, worst: float, atol: float | None, name: str = "probs"
) -> None:
    """Raise for values outside [0, 1] or rows off 1 by more than ``atol`` (default:
    ``1e-4`` for float64, ``1e-4 + 2 K 6e-8`` otherwise). ``lo``/``hi``/``worst`` are finite."""
    if lo < 0 or hi > 1:
        raise GencalInputError(
            f"{name}: values must lie in [0, 1] (found min {lo:.3g}, max {hi:.3g}); "
            "did you pass logits? use inputs='logits'"
        )
    if atol is None:
        # float32 row sums of K terms carry ~K*eps rounding: allow for it on top of 1e-4.
        atol = 1e-4 if probs.dtype == torch.float64 else 1e-4 + 2 * probs.shape[1] * 6e-8
    if worst > atol:
        raise GencalInputError(
            f"{name}: rows must sum to 1 (worst row is off by {worst:.3g}); "
            "did you pass logits? use inputs='logits'"
        )


def two_columns(scores: torch.Tensor, inputs: Inputs) -> torch.Tensor:
    """``[N]`` / ``[N, 1]`` binary scores as ``[N, 2]``; other shapes are returned unchanged.

    A logit ``z`` of the positive class becomes ``[0, z]`` (``softmax([0, z]) = [1 - s, s]``
    with ``s = sigmoid(z)``); a probability ``p`` becomes ``[1 - p, p]``.
    """
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.ndim != 1:
        return scores
    if inputs == "logits":
        return torch.stack([torch.zeros_like(scores), scores], dim=1)
    return torch.stack([1.0 - scores, scores], dim=1)


def check_inputs(inputs: str) -> Inputs:
    """Return ``inputs`` if it is ``"logits"`` or ``"probs"``, else raise."""
    if inputs not in ("logits", "probs"):
        raise GencalInputError(f"inputs: expected 'logits' or 'probs', got {inputs!r}")
    return inputs  # type: ignore[return-value]


def prepare(
    scores: Any, labels: Any, inputs: Inputs = "probs", *, validate_args: bool = True
) -> Prepared:
    """:func:`prepare_from_logits` or :func:`prepare_from_probs`, as ``inputs`` says."""
    if check_inputs(inputs) == "logits":
        return prepare_from_logits(scores, labels, validate_args=validate_args)
    return prepare_from_probs(scores, labels, validate_args=validate_args)


@dataclass
class Prepared:
    """Everything the metrics need, computed once: max / argmax / true-class probability."""

    probs: torch.Tensor  # [N, K] float32 or float64
    labels: torch.Tensor  # [N] int64
    conf: torch.Tensor  # [N] top-label probability
    pred: torch.Tensor | None  # [N] argmax (first maximal index on ties); None: see `prediction`
    p_true: torch.Tensor  # [N] probability of the true class
    nll: torch.Tensor | None = None  # [N] exact -log softmax(z)_y when built from logits
    edge_dtype: torch.dtype | None = None  # dtype the scores came in (float16 -> float16 edges)
    correct_: torch.Tensor | None = None  # [N] bool argmax == label, when computed by the kernel

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        return int(self.probs.shape[1])

    @property
    def prediction(self) -> torch.Tensor:
        """``[N]`` argmax, first maximal index on ties (computed on demand if the fused kernel
        gave ``correct`` without it)."""
        if self.pred is None:
            self.pred = self.probs.max(dim=1).indices
        return self.pred

    @cached_property
    def correct(self) -> torch.Tensor:
        """``[N]`` bool: argmax == label (computed once)."""
        if self.correct_ is not None:
            return self.correct_
        return self.prediction == self.labels


def _check_labels_for(labels: torch.Tensor, n: int, k: int, validate: bool) -> None:
    check_labels(labels, k, n, values=validate)
    if n == 0:
        raise GencalInputError("labels: at least one sample is needed")


def prepare_from_probs(probs: Any, labels: Any, *, validate_args: bool = True) -> Prepared:
    """Convert/validate ``probs [N, K]`` and ``labels [N]`` and take max/argmax once.

    On CPU, large float inputs go through one fused pass (:func:`gencal.metrics._kernels.row_stats`:
    max, argmax == label, true-class probability and every value check at once); otherwise, or
    when that pass finds a negative-signed value, NaN or inf, the same quantities come from torch
    (``max(dim=1)``, ``amin``, row sums, ``gather``) with the same results and messages.
    """
    p = as_tensor(probs, "probs")
    src_dtype = p.dtype if p.is_floating_point() else None
    y = to_labels(labels)
    p = two_columns(to_float(p, "probs"), "probs")
    check_probs(p, "probs", values=False)
    check_labels(y, p.shape[1], p.shape[0], values=False)
    if p.shape[0] == 0:
        raise GencalInputError("labels: at least one sample is needed")
    atol = 1e-3 if src_dtype in (torch.float16, torch.bfloat16) else None
    fused = _kernels.row_stats(p, y) if y.device == p.device else None
    if fused is not None:
        if fused.bad_labels:
            check_labels(y, p.shape[1], p.shape[0], values=True)  # raises, naming the label
        if validate_args:
            _check_probs_values(p, fused.min_value, fused.max_value, fused.worst_row_error, atol)
        return Prepared(p, y, fused.conf, None, fused.p_true, None, src_dtype, fused.correct)
    _check_labels_for(y, p.shape[0], p.shape[1], validate_args)
    conf, pred = p.max(dim=1)
    if validate_args:
        check_probs_fast(p, "probs", atol=atol, row_max=conf)
    if y.device != p.device:
        y = y.to(p.device)
    p_true = p.gather(1, y[:, None]).squeeze(1)
    return Prepared(p, y, conf, pred, p_true, None, src_dtype)


def prepare_from_logits(logits: Any, labels: Any, *, validate_args: bool = True) -> Prepared:
    """Softmax once; NLL exactly from the logits as ``max z - z_y - log(max p)``.

    With ``m = max_k z_k`` and ``c = max_k softmax(z)_k = 1 / sum_k exp(z_k - m)``, the
    log-sum-exp is ``m - log c`` so ``-log softmax(z)_y = m - z_y - log c``: exact, never clamped.
    """
    z = two_columns(to_float(logits, "logits"), "logits")
    y = to_labels(labels)
    check_logits(z, "logits", values=False)
    if validate_args and z.numel():
        _check_finite_fast(z, "logits")
    _check_labels_for(y, z.shape[0], z.shape[1], validate_args)
    if y.device != z.device:
        y = y.to(z.device)
    p = torch.softmax(z, dim=1)
    conf, pred = p.max(dim=1)
    p_true = p.gather(1, y[:, None]).squeeze(1)
    z_max = z.gather(1, pred[:, None]).squeeze(1)
    z_y = z.gather(1, y[:, None]).squeeze(1)
    nll = (z_max - z_y).to(torch.float64) - torch.log(conf.to(torch.float64))
    # the probabilities are computed here (float32 at least): bin edges of that dtype
    return Prepared(p, y, conf, pred, p_true, nll, None)
