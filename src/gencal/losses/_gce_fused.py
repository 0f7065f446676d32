"""Fused forward/backward of Generative Cross-Entropy (private; the definition is in ``gce.py``).

:func:`gce_fused` computes the same value and gradient as
:func:`gencal.losses.gce.generative_cross_entropy` with one hand-written autograd node: a
softmax with a per-class shift (exact at any logit scale, no device->host sync) and a backward
written to dispatch few ops. :class:`gencal.losses.GenerativeCrossEntropyLoss` uses it by default
(``implementation="fused"``: faster in a training step, ``benchmarks/gce_step.py``); the tests
compare it with the plain form and with an O(N^2) reference.
"""

from __future__ import annotations

import torch

__all__ = ["GCEFused", "gce_fused"]


def gce_fused(
    logits: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    n_valid: torch.Tensor,
    n_valid_host: int | None,
    lam: float,
    reduction: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(loss, ce, regulariser)`` of GCE; ``ce``/``regulariser`` are detached and reduced alike.

    ``target`` has its ignored rows replaced by 0, ``valid`` marks the other rows, ``n_valid``
    counts them (a 0-d tensor) and ``n_valid_host`` is that count as an int when it is known
    without a device sync (else None: the mean's scale then stays on the device).
    """
    scale: float | torch.Tensor = 1.0
    if reduction == "mean":
        if n_valid_host is not None:
            scale = 1.0 / max(n_valid_host, 1)
        else:
            scale = n_valid.clamp(min=1).to(logits.dtype).reciprocal()
    all_valid = n_valid_host == logits.shape[0]
    return GCEFused.apply(logits, target, valid, scale, lam, reduction == "none", all_valid)


class GCEFused(torch.autograd.Function):
    """GCE value and fused backward, exact at any logit scale, with no host sync.

    Inputs: float logits ``z [N, K]``, labels ``target`` (ignored rows set to 0), the boolean
    ``valid`` mask, ``scale`` (a float or a 0-d tensor: ``1/n`` for the mean, 1 otherwise),
    ``lam``, ``per_sample`` and ``all_valid`` (no row is ignored, known on the host: then no masking op runs at all;
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

    which is the gradient of docs/method.md ``a (p - e_y) + p * (w - <w, p>)``: one matrix-vector
    product, one rank-1 update and one multiplication over ``[N, K]``. First-order only
    (``once_differentiable``). Every step is written to dispatch few ops (the GPU regime of
    small batches is bound by per-op launch overhead): ``G`` is one ``index_add_`` with
    ``alpha = lam``, ``c`` one ``addmv``, ``u = G / T`` needs no mask (``T`` is clamped to
    ``tiny`` where no valid row has the class, and there ``G = 0``), a reduced loss keeps ``a``
    a broadcast 0-d tensor, and no zero gradients are materialised for ``ce``/``reg``.
    """

    @staticmethod
    def forward(ctx, logits, target, valid, scale, lam, per_sample, all_valid):  # type: ignore[override]
        ctx.set_materialize_grads(False)  # ce/reg get no gradient: no zero tensors for them
        fin = torch.finfo(logits.dtype)
        t1 = target.view(-1, 1)
        # the float row weight (1 valid, 0 ignored): masking by multiplication, one op each
        w = None if all_valid else valid.to(logits.dtype)
        out = GCEFused._shifted_softmax(logits, t1, w, fin)
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
            return None, None, None, None, None, None, None
        p_mat, em, t_mass, target, valid, w = ctx.saved_tensors
        n = target.shape[0]
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
        grad = torch.mul(c.view(-1, 1), em).add_(u)  # u_k + e^{m_k} c_j
        grad.mul_(p_mat)
        grad.scatter_add_(1, target.view(-1, 1), na_n.view(-1, 1))
        return grad, None, None, None, None, None, None
