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


class _GCEFused(torch.autograd.Function):
    """GCE value and fused backward, exact at any logit scale, with no host sync.

    Inputs: float logits ``z [N, K]``, labels ``target`` (ignored rows set to 0), the boolean
    ``valid`` mask, ``scale`` (a float or a 0-d tensor: ``1/n`` for the mean, 1 otherwise),
    ``lam``, ``per_sample``, ``host`` (try :meth:`_plain_softmax` first: CPU tensors only) and
    ``all_valid`` (no row is ignored, known on the host: then no masking op runs at all;
    otherwise ignored rows are masked by arithmetic with the float row weight ``w``, see
    :meth:`_shifted_softmax`, never by ``where`` with a scalar). Outputs ``(loss, ce, reg)`` where
    ``loss = ce + lam * reg``;
    ``ce``/``reg`` are the scaled sums (or the per-sample vectors when ``per_sample``) and are
    not differentiable (they are the detached ``parts``).

    Forward, with the row max ``r_j`` (``+inf`` on ignored rows, so they vanish) and the
    per-class shift ``m_k = max_j (z_jk - r_j)`` over the valid rows::

        B_jk = exp(z_jk - r_j - m_k) <= 1,   rowsum_j = sum_k B_jk e^{m_k}  (in [1, K])
        log p_{j,y_j} = z_{j,y_j} - r_j - log rowsum_j
        S_k = e^{m_k} T_k,   T_k = sum_j B_jk / rowsum_j  (>= 1/K for a labelled class)
        log S_k = m_k + log T_k

    No quantity that is logged can underflow, so there is no data-dependent fallback and no
    device->host sync; it costs one ``[N, K]`` temporary (``P = B / rowsum``, saved for the
    backward), two reductions, a matrix-vector product, a sum and three in-place passes.

    Backward, for per-sample upstream weights ``a`` (CE term) and ``b = lam a`` (regulariser),
    ``G_k = sum_{i: y_i = k} b_i``, ``u_k = G_k / T_k`` and ``p_jk = B_jk e^{m_k} / rowsum_j``::

        dz_jk = p_jk (G_k / S_k) + p_jk c_j - a_j [k = y_j],   c_j = a_j - <G / S, p_j>
              = P_jk (u_k + e^{m_k} c_j) - a_j [k = y_j],   P_jk = B_jk / rowsum_j

    which is the method.md gradient ``a (p - e_y) + p * (w - <w, p>)``: one matrix-vector
    product, one rank-1 update and one multiplication over ``[N, K]``. First-order only
    (``once_differentiable``). Every step is written to dispatch few ops (the GPU regime of
    small batches is bound by per-op launch overhead): ``G`` is one ``index_add_`` with
    ``alpha = lam``, ``c`` one ``addmv``, ``u = G / T`` needs no mask (``T`` is clamped to
    ``tiny`` where no valid row has the class, and there ``G = 0``), a reduced loss keeps ``a``
    a broadcast 0-d tensor, and no zero gradients are materialised for ``ce``/``reg``.
    """

    @staticmethod
    def forward(ctx, logits, target, valid, scale, lam, per_sample, host, all_valid):  # type: ignore[override]
        ctx.set_materialize_grads(False)  # ce/reg get no gradient: no zero tensors for them
        fin = torch.finfo(logits.dtype)
        t1 = target.view(-1, 1)
        # the float row weight (1 valid, 0 ignored): masking by multiplication, one op each
        w = None if all_valid else valid.to(logits.dtype)
        out = None
        if host:
            out = _GCEFused._plain_softmax(logits, t1, valid, w, fin)
        if out is None:
            out = _GCEFused._shifted_softmax(logits, t1, w, fin)
        p_mat, em, t_mass, log_mass, logp_y = out  # logp_y = -ce_i (0 on ignored rows)
        reg_i = log_mass.gather(0, target)  # log_mass is finite (T_k clamped): w masks it
        if w is not None:
            reg_i.mul_(w)
        # the CE sign goes into the scale where there is one (-(sum x) * s == sum(x) * (-s))
        if per_sample:  # scale is 1
            ce, reg = logp_y.neg_(), reg_i
            if w is not None:  # +0.0 (not -0.0) on ignored rows of the returned vectors
                ce, reg = torch.where(valid, ce, 0.0), torch.where(valid, reg, 0.0)
        elif not isinstance(scale, float):
            ce, reg = torch.mul(logp_y.sum(), scale).neg_(), reg_i.sum() * scale
        elif scale == 1.0:
            ce, reg = logp_y.sum().neg_(), reg_i.sum()
        else:
            ce, reg = logp_y.sum() * -scale, reg_i.sum() * scale
        loss = torch.add(ce, reg, alpha=lam)
        ctx.save_for_backward(p_mat, em, t_mass, target, valid, w)
        ctx.scale, ctx.lam = scale, lam
        ctx.mark_non_differentiable(ce, reg)
        return loss, ce, reg

    @staticmethod
    def _plain_softmax(logits, t1, valid, w, fin):
        """CPU path: one fused softmax; None when a logged value is near underflow.

        On the CPU, reading a flag back costs no device sync, and this path does fewer passes
        over ``[N, K]`` than :meth:`_shifted_softmax` (``m = 0``, ``P = p``); the rare batch
        with a true-class probability or a labelled class mass below ~1e-26 (float32) goes to
        the shifted path instead.
        """
        p = torch.softmax(logits, dim=1)
        p_y = p.gather(1, t1).view(-1)
        # S_{y_j} >= p_{j, y_j} (the sum includes row j), so p_y alone decides
        if w is None:
            smallest = p_y.min()
        else:
            smallest = torch.where(valid, p_y, 1.0).min()
        if smallest.item() < fin.tiny * 2.0**40:
            return None
        if w is not None:
            p.mul_(w.view(-1, 1))  # ignored rows leave S_k and get no gradient
        # T_k = 0 only for a class without a valid row, where G_k = 0: clamped, u_k = G_k / T_k
        # is 0 in the backward and log T_k finite, with no mask (labelled: T_k >= p_y > tiny)
        t_mass = p.sum(dim=0).clamp_(min=fin.tiny)
        logp_y = p_y.log_()  # p_y is a fresh tensor (gather): in place
        if w is not None:
            logp_y = torch.where(valid, logp_y, 0.0)  # p_y may be 0 on an ignored row
        return p, None, t_mass, t_mass.log(), logp_y

    @staticmethod
    def _shifted_softmax(logits, t1, w, fin):
        """Sync-free path, exact at any logit scale (the per-class shift above).

        With no ignored row known on the host (``w`` None) it runs no masking op at all;
        otherwise the row weight ``w`` masks by arithmetic (no ``where``, no scalar tensor).
        """
        r0 = logits.amax(dim=1)
        # +inf on ignored rows (r0 - log 0), so that they vanish from m, rowsum and T
        r = r0 if w is None else r0 - w.log()
        b_mat = logits - r.view(-1, 1)  # z - r: <= 0 on valid rows, -inf on ignored rows
        if w is None:
            d_y = b_mat.gather(1, t1).view(-1)
        else:  # the same value on valid rows, finite (maskable) on ignored ones
            d_y = logits.gather(1, t1).view(-1).sub_(r0)
        m = b_mat.amax(dim=0)  # m_k = 0 at a valid row's argmax column
        if w is not None:
            m.clamp_(min=fin.min)  # finite even for an all-ignored column
        b_mat.sub_(m).exp_()  # B_jk = exp(z_jk - r_j - m_k), in place
        em = m.exp()
        rowsum = torch.mv(b_mat, em)  # >= 1 on valid rows (the argmax term is exactly 1)
        if w is not None:
            rowsum.clamp_(min=0.5)  # 0 on ignored rows: a finite 1 / rowsum, P row stays 0
        inv_row = rowsum.reciprocal_()
        b_mat.mul_(inv_row.view(-1, 1))  # P_jk = p_jk / e^{m_k}; 0 on ignored rows
        # T_k >= 1/K for a class with a valid row; T_k = 0 (no valid row, G_k = 0) is clamped
        # so that log T_k is finite and u_k = G_k / T_k = 0 in the backward, with no mask
        t_mass = b_mat.sum(dim=0).clamp_(min=fin.tiny)
        log_mass = torch.add(m, t_mass.log())
        # ce = -(d_y + log(1/rowsum)) rather than log(rowsum) - d_y: for a single valid row it
        # is bit-for-bit the negative of reg = m_y + log T_y, so the loss is exactly 0
        logp_y = inv_row.log_().add_(d_y)  # inv_row is not needed any more: in place
        if w is not None:
            logp_y.mul_(w)
        return b_mat, em, t_mass, log_mass, logp_y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss, _grad_ce, _grad_reg):  # type: ignore[override]
        if grad_loss is None:  # only ce/reg were used: they are not differentiable
            return None, None, None, None, None, None, None, None
        p_mat, em, t_mass, target, valid, w = ctx.saved_tensors
        n = target.shape[0]
        # a: the per-sample weight of the CE term; a 0-d tensor (broadcast) when it is the
        # same for every row (no ignored row and a reduced loss)
        # na = -a: a is the per-sample weight of the CE term, negated once here (its sign is
        # exact in every use below); a 0-d tensor (broadcast) when it is the same for every
        # row (a reduced loss)
        scale = ctx.scale
        if not isinstance(scale, float):
            na = torch.mul(grad_loss, scale).neg_()
        else:
            na = grad_loss.neg() if scale == 1.0 else grad_loss * -scale
        if w is not None:  # some row may be ignored
            # a 0-d weight is finite (grad * 1/n): one multiplication; keep where for a
            # per-sample upstream gradient (it may hold anything on ignored rows)
            na = na * w if na.dim() == 0 else torch.where(valid, na, 0.0)
        na_n = na.expand(n) if na.dim() == 0 else na
        # G_k = sum_{i: y_i = k} lam a_i;  u_k = G_k / T_k (T_k clamped: 0 where G_k = 0)
        u = torch.zeros_like(t_mass).index_add_(0, target, na_n, alpha=-ctx.lam).div_(t_mass)
        c = torch.addmv(na_n, p_mat, u, beta=-1.0, alpha=-1.0)  # a_j - <G / S, p_j>
        if em is None:  # plain softmax path: m = 0
            grad = torch.add(c.view(-1, 1), u)
        else:
            grad = torch.mul(c.view(-1, 1), em).add_(u)  # u_k + e^{m_k} c_j
        grad.mul_(p_mat)
        grad.scatter_add_(1, target.view(-1, 1), na_n.view(-1, 1))
        return grad, None, None, None, None, None, None, None


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
    batch of one sample gives exactly 0. O(N K) time and memory, no [N, N] matrix: the softmax
    is formed with a per-class shift (``m_k``, the largest ``log q(k|x_j)`` up to a row
    constant) so that neither ``q(y|x)`` nor a class mass ``S_k`` can underflow before its
    log is taken: extreme logits stay exact and finite with no data-dependent fallback and no
    device->host sync; the backward is hand-written.

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
        #: use the sync-free shifted softmax on the CPU too (tests; it is always used elsewhere)
        self._force_shifted = False
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
        if self.class_mass == "batch" and self.fused and logits.shape[0]:
            scale: float | torch.Tensor = 1.0
            if self.reduction == "mean":
                n_host = self._n_valid_host
                if n_host is not None:
                    scale = 1.0 / max(n_host, 1)
                else:  # validate_args=False: stay on the device
                    scale = n_valid.clamp(min=1).to(logits.dtype).reciprocal()
            host = logits.device.type == "cpu" and not self._force_shifted
            all_valid = self._n_valid_host == logits.shape[0]
            loss, ce, reg = _GCEFused.apply(
                logits, target, valid, scale, self.lam, self.reduction == "none", host, all_valid
            )
            self.parts = {"ce": ce, "regulariser": reg}
            return loss
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
