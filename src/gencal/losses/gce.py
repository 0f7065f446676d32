"""Generative Cross-Entropy (Zhan, Zhou & Shen, arXiv 2604.06689): see docs/method.md.

Not to be confused with *Generalized* Cross Entropy (Zhang & Sabuncu, NeurIPS 2018), the
noise-robust loss ``(1 - p_y^q) / q``, which is unrelated and is not implemented here.

:func:`generative_cross_entropy` is the definition, in plain autograd;
:class:`GenerativeCrossEntropyLoss` is the ``nn.Module`` (validation, ``parts``, the optional
EMA class mass) and by default runs the same computation through the fused forward/backward of
:mod:`gencal.losses._gce_fused`, measured faster in a training step (``implementation``;
docs/benchmarks.md).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, Literal

import torch

from gencal._checks import GencalInputError, check_labels, check_logits
from gencal.losses._gce_fused import gce_fused
from gencal.losses.base import CalibrationLoss, reduce_per_sample
from gencal.losses.registry import register_loss

__all__ = ["GenerativeCrossEntropyLoss", "generative_cross_entropy"]

Implementation = Literal["fused", "plain"]
_IMPLEMENTATIONS = ("fused", "plain")


def generative_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    lam: float = 1.0,
    reduction: Literal["mean", "sum", "none"] = "mean",
    ignore_index: int = -100,
) -> torch.Tensor:
    r"""Generative Cross-Entropy of a batch: cross-entropy plus a class-level regulariser.

    With ``q(k|x) = softmax(logits)_k`` and ``S_k = sum_j q(k|x_j)`` the model's total
    probability mass on class k over the batch (the non-ignored rows, sample i included)::

        loss_i = -log q(y_i|x_i) + lam * log S_{y_i}
        mean   = CE + lam * sum_k (n_k / n) * log S_k       (n_k: the count of label k)

    Both logs are computed in log space (``log_softmax``, then a log-sum-exp over the batch
    dimension), so the value is exact at any logit scale. Plain autograd: it supports double
    backward. See docs/method.md for the derivation.

    Args:
        logits: scores (logits, not probabilities) of every class.
        target: class indices; rows equal to ``ignore_index`` are left out of both the
            numerator and every ``S_k``.
        lam: weight of the regulariser; 1 is the paper's loss, 0 is cross-entropy.
        reduction: ``"mean"`` over the non-ignored rows (0 when there are none), ``"sum"``, or
            ``"none"`` for the per-sample ``loss_i`` (0 on ignored rows).
        ignore_index: label value of rows to ignore.

    Shape:
        ``logits [N, K]`` float, ``target [N]`` integer; the result is a scalar, or ``[N]`` for
        ``reduction="none"``. float16/bfloat16 logits are computed in float32.

    Returns:
        The loss as a tensor (float32 or float64).

    Example:
        >>> import torch
        >>> logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> target = torch.tensor([0, 1, 1])
        >>> round(generative_cross_entropy(logits, target).item(), 3)
        0.745
        >>> generative_cross_entropy(logits[:1], target[:1]).item()  # one sample: exactly 0
        0.0
    """
    check_logits(logits, "logits", values=False)
    check_labels(
        target, logits.shape[1], logits.shape[0], "target", values=False, ignore_index=ignore_index
    )
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    valid = target != ignore_index
    ce_i, reg_i = _gce_terms(logits, torch.where(valid, target, 0), valid)
    return reduce_per_sample(ce_i + lam * reg_i, valid.sum(), reduction)


def _gce_terms(
    logits: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    log_denominator: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample ``(-log q(y_i|x_i), log S_{y_i})``, 0 on ignored rows (``target`` 0 there).

    ``log_denominator`` (optional) maps ``log S [K]`` to the log of the denominator actually
    used (the EMA extension of :class:`GenerativeCrossEntropyLoss`).
    """
    log_q = torch.log_softmax(logits, dim=1)  # [N, K] log q(k|x_j)
    log_q_y = log_q.gather(1, target.unsqueeze(1)).squeeze(1)  # [N] log q(y_i|x_i)
    # log S_k = log sum_j q(k|x_j) over the valid rows: a log-sum-exp over the batch dimension.
    # Ignored rows get the most negative finite value (not -inf: an all-ignored batch must
    # give a zero gradient, and logsumexp's backward of an all -inf column is NaN).
    log_q_valid = torch.where(valid.unsqueeze(1), log_q, torch.finfo(log_q.dtype).min)
    log_mass = torch.logsumexp(log_q_valid, dim=0)  # [K]
    if log_denominator is not None:
        log_mass = log_denominator(log_mass)
    ce_i = torch.where(valid, -log_q_y, 0.0)
    reg_i = torch.where(valid, log_mass.gather(0, target), 0.0)
    return ce_i, reg_i


@register_loss("gce")
class GenerativeCrossEntropyLoss(CalibrationLoss):
    r"""Generative Cross-Entropy as an ``nn.Module``: maximise ``log p(x|y)``, not ``log p(y|x)``.

    Zhan, Zhou & Shen, "Towards Accurate and Calibrated Classification: Regularizing
    Cross-Entropy From A Generative Perspective", arXiv 2604.06689 (2026). The name clash is
    unfortunate: this is **not** Generalized Cross Entropy (Zhang & Sabuncu, NeurIPS 2018).

    The value is :func:`generative_cross_entropy`: with ``q = softmax(logits)``, a batch of
    ``n`` (non-ignored) samples, ``n_k`` of class k and ``S_k = sum_j q(k|x_j)``::

        loss_i = -log q(y_i|x_i) + lam * log S_{y_i}
        mean   = CE + lam * sum_k (n_k / n) * log S_k

    Its gradient with respect to the logits ``z_i`` (``reduction="mean"``, ``lam=1``) is
    ``(1/n) [(p_i - e_{y_i}) + p_i * (w - <w, p_i>)]`` with ``w_k = n_k / S_k``; the
    regulariser part vanishes when each class's predicted batch mass equals its count.

    Args:
        lam: weight of the regulariser; 1 is the paper's loss, 0 is cross-entropy. For
            ``lam > 1`` the loss is unbounded below (warned at construction): putting mass
            ``eps`` on class ``k`` for every sample of the batch makes the samples of class
            ``k`` cost ``(lam - 1) log eps + const``, so a model can lower the loss without
            end by being wrong, and training diverges. ``0 <= lam <= 1`` keeps it bounded and
            strictly proper.
        class_mass: ``"batch"`` (the paper) or ``"ema"``, an **extension that is not part of
            the paper** for many-class / small-batch settings: the per-class mean mass
            ``m_k = S_k / n`` is replaced by its exponential moving average
            ``(1 - ema_momentum) * S_k / n + ema_momentum * m_k^{old}`` (``m^{old}`` a detached
            buffer, updated in training mode only; the first batch initialises it), and the
            denominator is ``n * m_k^{new}``; ``ema_momentum=0`` is the batch form.
        ema_momentum: weight of the past in the EMA (``0 <= ema_momentum < 1``).
        implementation: ``"fused"`` (default) runs the hand-written forward/backward of
            :mod:`gencal.losses._gce_fused`: the same value and gradient, first-order only, no
            device->host sync, and faster in a training step at every size measured
            (docs/benchmarks.md); ``"plain"`` runs :func:`generative_cross_entropy` in autograd
            (supports double backward). The EMA extension always runs the plain form.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (``[N]``, 0 on ignored rows).
        ignore_index: rows with this label are left out of the numerator and of every ``S_k``.
        validate_args: check for NaN/inf logits and out-of-range labels (one host sync).

    Shape:
        ``forward(logits [N, K], target [N])`` -> scalar, or ``[N]`` for ``reduction="none"``.

    Attributes:
        parts: ``{"ce": ..., "regulariser": ...}`` of the last call (detached, unweighted,
            reduced like the loss): ``loss = parts["ce"] + lam * parts["regulariser"]``.

    Example:
        >>> import torch
        >>> loss_fn = GenerativeCrossEntropyLoss()
        >>> logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]], requires_grad=True)
        >>> loss = loss_fn(logits, torch.tensor([0, 1, 1]))
        >>> round(loss.item(), 3), sorted(loss_fn.parts)
        (0.745, ['ce', 'regulariser'])
        >>> loss.backward()
    """

    def __init__(
        self,
        lam: float = 1.0,
        class_mass: str = "batch",
        ema_momentum: float = 0.9,
        implementation: Implementation = "fused",
        reduction: str = "mean",
        ignore_index: int = -100,
        validate_args: bool = True,
    ) -> None:
        super().__init__(
            reduction=reduction, ignore_index=ignore_index, validate_args=validate_args
        )
        if not math.isfinite(float(lam)):
            raise GencalInputError(f"lam: must be finite, got {lam}")
        if class_mass not in ("batch", "ema"):
            raise GencalInputError(f"class_mass: expected 'batch' or 'ema', got {class_mass!r}")
        if not 0.0 <= float(ema_momentum) < 1.0:
            raise GencalInputError(f"ema_momentum: must lie in [0, 1), got {ema_momentum}")
        if implementation not in _IMPLEMENTATIONS:
            raise GencalInputError(
                f"implementation: expected one of {_IMPLEMENTATIONS}, got {implementation!r}"
            )
        if float(lam) > 1.0:
            warnings.warn(
                f"GenerativeCrossEntropyLoss(lam={float(lam):g}): the loss is unbounded below for "
                "lam > 1 (a model that puts vanishing mass on a class lowers lam * log S_k faster "
                "than it raises the cross-entropy), so training diverges; 0 <= lam <= 1 keeps it "
                "bounded and strictly proper",
                UserWarning,
                stacklevel=2,
            )
        self.lam = float(lam)
        self.class_mass = class_mass
        self.ema_momentum = float(ema_momentum)
        self.implementation = implementation
        self.running_mass: torch.Tensor | None
        self.register_buffer("running_mass", None)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        key = prefix + "running_mass"
        if key in state_dict and self.running_mass is None:
            self.running_mass = torch.empty_like(state_dict[key])
        super()._load_from_state_dict(state_dict, prefix, *args)

    def _ema_log_denominator(self, log_mass: torch.Tensor, n_valid: torch.Tensor) -> torch.Tensor:
        """log of the EMA per-class denominator ([K]) from the batch's ``log S_k``."""
        log_n = n_valid.clamp(min=1).to(log_mass.dtype).log()
        log_mean = log_mass - log_n
        old = self.running_mass
        if old is not None and old.shape == log_mass.shape:
            mu = self.ema_momentum
            log_old = old.to(log_mass).clamp(min=torch.finfo(log_mass.dtype).tiny).log()
            log_new = torch.logaddexp(
                log_mean + math.log1p(-mu), log_old + (math.log(mu) if mu > 0 else -math.inf)
            )
        else:
            log_new = log_mean
        if self.training:
            new = log_new.detach().exp().float()
            if old is not None and old.shape == new.shape:
                # an all-ignored batch leaves the estimate unchanged (no device sync)
                new = torch.where(n_valid > 0, new, old)
            self.running_mass = new
        return log_new + log_n

    def _forward(
        self,
        logits: torch.Tensor,
        target: torch.Tensor,
        valid: torch.Tensor,
        n_valid: torch.Tensor,
    ) -> torch.Tensor:
        if self.class_mass == "batch" and self.implementation == "fused" and logits.shape[0]:
            loss, ce, reg = gce_fused(
                logits, target, valid, n_valid, self._n_valid_host, self.lam, self.reduction
            )
            self.parts = {"ce": ce, "regulariser": reg}
            return loss
        log_den = None
        if self.class_mass == "ema":
            log_den = lambda log_mass: self._ema_log_denominator(log_mass, n_valid)  # noqa: E731
        ce_i, reg_i = _gce_terms(logits, target, valid, log_den)
        return self._combine(ce_i, reg_i, n_valid)

    def _combine(
        self, ce_i: torch.Tensor, reg_i: torch.Tensor, n_valid: torch.Tensor
    ) -> torch.Tensor:
        """Reduce both per-sample terms, record them as ``parts``, return ce + lam * reg."""
        if self.reduction == "none":
            self._set_parts(ce=ce_i, regulariser=reg_i)
            return ce_i + self.lam * reg_i
        ce, reg = self._reduce(ce_i, n_valid), self._reduce(reg_i, n_valid)
        self._set_parts(ce=ce, regulariser=reg)
        return ce + self.lam * reg

    def extra_repr(self) -> str:
        s = f"lam={self.lam}, class_mass={self.class_mass!r}, implementation={self.implementation!r}"
        if self.class_mass == "ema":
            s += f", ema_momentum={self.ema_momentum}"
        return s + ", " + super().extra_repr()
