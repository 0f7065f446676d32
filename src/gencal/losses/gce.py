"""Generative Cross-Entropy (Zhan, Zhou & Shen, arXiv 2604.06689).

Not to be confused with *Generalized* Cross Entropy (Zhang & Sabuncu, NeurIPS 2018), the
noise-robust loss ``(1 - p_y^q) / q``, which is unrelated and is not implemented here.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from gencal._checks import GencalInputError
from gencal.losses.base import CalibrationLoss
from gencal.losses.registry import register_loss

__all__ = ["GenerativeCrossEntropy"]


class _GCETerms(torch.autograd.Function):
    """Per-sample ``(-log q(y_i|x_i), log S_{y_i})`` with a hand-written, fused backward.

    Forward: one ``softmax``, the class masses ``S = valid @ p`` as one matrix-vector product,
    ``log`` of the gathered ``p_y`` and of ``S``. If a true-class probability or the mass of a
    labelled class is near underflow (below ~1e-26 in float32), the batch is redone in log
    space (``log_softmax``, ``logsumexp``); a host sync decides, and the slow path is rare.

    Backward, for upstream per-sample gradients ``a`` (of the CE term) and ``b`` (of the
    regulariser), with ``p = softmax(z)`` and ``w_k = sum_{i: y_i = k} b_i / S_k``::

        dz_j = a_j (p_j - e_{y_j}) + p_j * (w - <w, p_j>)      (valid rows; 0 for ignored rows)

    which is the method.md gradient: a matrix-vector product and two passes over ``[N, K]``
    instead of autograd's chain of log_softmax, masking, logsumexp and gather backwards.
    First-order only (``once_differentiable``).
    """

    @staticmethod
    def forward(ctx, logits, target, valid):  # type: ignore[override]
        p = torch.softmax(logits, dim=1)
        validf = valid.to(p.dtype)
        mass = validf @ p  # [K], S_k over the non-ignored rows
        p_y = p.gather(1, target.unsqueeze(1)).squeeze(1)
        # log(p_y) and log(S_k) are exact enough unless a value is near the underflow range:
        # one host sync decides whether to redo the batch in log space (rare) and whether
        # there are ignored rows to mask
        thr = torch.finfo(p.dtype).tiny * 2.0**40
        if p.numel():
            tiny = (mass.gather(0, target) < thr) | (p_y < thr)
            mask_rows, log_space = torch.stack((valid.logical_not().any(), tiny.any())).tolist()
        else:
            mask_rows, log_space = False, False
        ctx.log_space = log_space
        if ctx.log_space:
            logp = torch.log_softmax(logits, dim=1)
            masked = torch.where(valid.unsqueeze(1), logp, torch.finfo(p.dtype).min)
            log_mass = torch.logsumexp(masked if mask_rows else logp, dim=0)
            logp_y = logp.gather(1, target.unsqueeze(1)).squeeze(1)
            saved = logp
        else:
            log_mass = mass.log()
            logp_y = p_y.log()
            saved = p
        ce_i = -logp_y * validf
        reg_i = log_mass.gather(0, target) * validf
        ctx.save_for_backward(saved, target, validf, log_mass)
        ctx.mask_rows = mask_rows
        return ce_i, reg_i

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_ce, grad_reg):  # type: ignore[override]
        saved, target, validf, log_mass = ctx.saved_tensors
        a = grad_ce * validf
        b = grad_reg * validf
        mass_grad = torch.zeros_like(log_mass).index_add_(0, target, b)
        if ctx.log_space:
            # some S_k underflowed: form p_jk w_k = exp(log p_jk - log S_k) G_k in log space
            logp = saved
            p = logp.exp()
            ratio = torch.exp(logp - log_mass.unsqueeze(0))
            r = torch.where(validf.unsqueeze(1) > 0, ratio * mass_grad.unsqueeze(0), 0.0)
            grad = r + p * (a - r.sum(dim=1)).unsqueeze(1)
            grad.scatter_add_(1, target.unsqueeze(1), -a.unsqueeze(1))
            return grad, None, None
        p = saved
        # classes without a (weighted) label have w_k = 0; never form 0 * exp(+huge)
        w = torch.where(mass_grad != 0, mass_grad * torch.exp(-log_mass), 0.0)
        # grad = p * (w + c) row-wise with c_j = a_j - <w, p_j>: two passes over [N, K]
        c = a - (p @ w) * validf
        grad = p * w
        grad.addcmul_(p, c.unsqueeze(1))
        if ctx.mask_rows:  # ignored rows do not enter S_k: zero their gradient
            grad.mul_(validf.unsqueeze(1))
        grad.scatter_add_(1, target.unsqueeze(1), -a.unsqueeze(1))
        return grad, None, None


@register_loss("gce")
class GenerativeCrossEntropy(CalibrationLoss):
    r"""Generative Cross-Entropy: maximise ``log p(x|y)`` instead of ``log p(y|x)``.

    Zhan, Zhou & Shen, "Towards Accurate and Calibrated Classification: Regularizing
    Cross-Entropy From A Generative Perspective", arXiv 2604.06689 (2026). The name clash is
    unfortunate: this is **not** Generalized Cross Entropy (Zhang & Sabuncu, NeurIPS 2018).

    With ``q = softmax(logits)`` and a batch of ``n`` (non-ignored) samples, ``n_k`` of class k::

        loss_i = -log q(y_i|x_i) + lam * log sum_{j in batch} q(y_i|x_j)
        mean   = CE + lam * sum_k (n_k / n) * log S_k,      S_k = sum_j q(k|x_j)

    i.e. cross-entropy plus a class-level confidence regulariser (the log of the total mass the
    model puts on each class present in the batch, weighted by its label frequency). The
    denominator includes the sample itself; classes absent from the batch contribute nothing; a
    batch of one sample gives exactly 0. O(N K) time and memory, no [N, N] matrix: one softmax,
    the class masses as one matrix-vector product, logs of gathered values, a hand-written
    backward; the batch is redone in log space (log_softmax, logsumexp over the batch) when a
    value is near float underflow, so extreme logits stay exact and finite.

    Gradient with respect to the logits ``z_i`` of sample i (``reduction="mean"``, lam=1)::

        dL/dz_i = (1/n) [ (p_i - e_{y_i}) + p_i * (w - <w, p_i>) ],   w_k = n_k / S_k

    whose regulariser part vanishes when each class's predicted batch mass equals its count.

    Args:
        lam: weight of the regulariser; 1 is the paper's loss, 0 is cross-entropy.
        class_mass: ``"batch"`` (the paper) or ``"ema"``, an **extension that is not part of
            the paper** for many-class / small-batch settings: the per-class mean probability
            mass ``m_k = S_k / n`` in the denominator is replaced by the exponential moving
            average updated with the current batch, ``(1 - ema_momentum) * S_k / n +
            ema_momentum * m_k^{old}``, where ``m^{old}`` (a detached buffer) carries earlier
            batches; gradients flow through the current batch's share. The denominator is then
            ``n * m_k^{new}`` so that the value equals the batch form when ``ema_momentum=0``.
            The buffer is updated only in training mode; the first batch initialises it.
        ema_momentum: weight of the past in the EMA (``0 <= ema_momentum < 1``).
        fused: use the hand-written fused backward (the gradient above; first-order only).
            ``False`` uses plain autograd, which supports double backward. The EMA extension
            always uses autograd.
        reduction: ``"mean"`` (the formula above), ``"sum"`` or ``"none"`` (``[N]``, the
            per-sample form ``loss_i``; 0 on ignored rows).
        ignore_index: rows with this label are left out of both the numerator and the batch
            denominator ``S_k``.

    ``parts`` = ``{"ce": ..., "regulariser": ...}`` (unweighted, reduced like the loss), so that
    ``loss = parts["ce"] + lam * parts["regulariser"]``.
    """

    def __init__(
        self,
        lam: float = 1.0,
        class_mass: str = "batch",
        ema_momentum: float = 0.9,
        fused: bool = True,
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
        self.lam = float(lam)
        self.class_mass = class_mass
        self.ema_momentum = float(ema_momentum)
        self.fused = bool(fused)
        self.running_mass: torch.Tensor | None
        self.register_buffer("running_mass", None)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        key = prefix + "running_mass"
        if key in state_dict and self.running_mass is None:
            self.running_mass = torch.empty_like(state_dict[key])
        super()._load_from_state_dict(state_dict, prefix, *args)

    def _log_denominator(self, log_mass: torch.Tensor, n_valid: torch.Tensor) -> torch.Tensor:
        """log of the per-class denominator ([K]); the EMA extension lives here."""
        if self.class_mass == "batch":
            return log_mass
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
        if self.class_mass == "batch" and self.fused:
            ce_i, reg_i = _GCETerms.apply(logits, target, valid)
            return self._combine(ce_i, reg_i, n_valid)
        logp = torch.log_softmax(logits, dim=1)  # [N, K]
        logp_y = logp.gather(1, target.unsqueeze(1)).squeeze(1)  # [N]
        # ignored rows get a huge finite negative value (not -inf: an all-ignored batch must
        # give a zero gradient, and logsumexp's backward of an all -inf column is NaN)
        masked = torch.where(valid.unsqueeze(1), logp, torch.finfo(logp.dtype).min)
        log_mass = torch.logsumexp(masked, dim=0)  # [K], log S_k
        log_den = self._log_denominator(log_mass, n_valid)
        zero = logp_y.new_zeros(())
        ce_i = torch.where(valid, -logp_y, zero)
        reg_i = torch.where(valid, log_den.gather(0, target), zero)
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
        s = f"lam={self.lam}, class_mass={self.class_mass!r}"
        if self.class_mass == "ema":
            s += f", ema_momentum={self.ema_momentum}"
        return s + ", " + super().extra_repr()
