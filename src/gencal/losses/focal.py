"""Focal-loss family: focal (Lin et al.), FLSD-53 (Mukhoti et al.), Dual Focal (Tao et al.)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch

from gencal._checks import GencalInputError
from gencal.losses.base import CalibrationLoss
from gencal.losses.registry import register_loss

__all__ = ["DualFocalLoss", "FLSD53Loss", "FocalLoss", "focal_term"]


def focal_term(logp_y: torch.Tensor, gamma: torch.Tensor | float) -> torch.Tensor:
    """Per-sample ``-(1 - p_y)^gamma * log p_y`` from ``log p_y`` (full gradient, as in the papers).

    ``1 - p_y`` is computed as ``-expm1(log p_y)`` and floored at the smallest positive float so
    that the gradient stays finite when ``p_y`` rounds to 1 with ``0 < gamma < 1``.

    Args:
        logp_y: log-probability of the true class per sample.
        gamma: focusing parameter (a float, or a tensor broadcastable to ``logp_y``).

    Shape:
        ``[N]`` -> ``[N]``.

    Returns:
        The per-sample focal loss.

    Example:
        >>> import math, torch
        >>> round(focal_term(torch.tensor([math.log(0.5)]), 2.0).item(), 4)  # 0.25 * log 2
        0.1733
    """
    one_minus = (-torch.expm1(logp_y)).clamp_min(torch.finfo(logp_y.dtype).tiny)
    return -(one_minus**gamma) * logp_y


def _log_p_target(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    logp = torch.log_softmax(logits, dim=1)
    return logp, logp.gather(1, target.unsqueeze(1)).squeeze(1)


@register_loss("focal")
class FocalLoss(CalibrationLoss):
    """Focal loss ``-alpha_y (1 - p_y)^gamma log p_y``.

    Lin, Goyal, Girshick, He & Dollár, "Focal Loss for Dense Object Detection", ICCV 2017; used
    for calibration by Mukhoti et al., NeurIPS 2020. ``gamma=0`` (and no ``alpha``) is
    cross-entropy. The gradient flows through the modulating factor ``(1 - p_y)^gamma`` (the
    paper's definition; some implementations detach it).

    Args:
        gamma: focusing parameter (>= 0); 3 is the calibration paper's FL-3.
        alpha: ``None`` (default, no weighting) or a sequence of K per-class weights
            ``alpha_k`` (the multi-class form of the paper's alpha-balancing).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (see :class:`CalibrationLoss`).
        ignore_index: label of rows to leave out.
        validate_args: check for NaN/inf logits and out-of-range labels (one host sync).

    Shape:
        ``forward(logits [N, K], target [N])`` -> scalar, or ``[N]`` for ``reduction="none"``.

    Attributes:
        parts: ``{"focal": ...}``.

    Example:
        >>> import torch
        >>> loss = FocalLoss(gamma=2.0)(torch.tensor([[0.0, 0.0]]), torch.tensor([1]))
        >>> round(loss.item(), 4)  # (1 - 0.5)^2 * log 2
        0.1733
    """

    def __init__(
        self,
        gamma: float = 3.0,
        alpha: Sequence[float] | torch.Tensor | None = None,
        reduction: str = "mean",
        ignore_index: int = -100,
        validate_args: bool = True,
    ) -> None:
        super().__init__(
            reduction=reduction, ignore_index=ignore_index, validate_args=validate_args
        )
        if not float(gamma) >= 0.0:
            raise GencalInputError(f"gamma: must be >= 0, got {gamma}")
        self.gamma = float(gamma)
        self.alpha: torch.Tensor | None
        if alpha is None:
            self.register_buffer("alpha", None)
        else:
            a = torch.as_tensor(alpha, dtype=torch.float32).flatten()
            if not bool(torch.isfinite(a).all()) or bool((a < 0).any()):
                raise GencalInputError("alpha: per-class weights must be finite and >= 0")
            self.register_buffer("alpha", a)

    def _forward(self, logits, target, valid, n_valid):
        _, logp_y = _log_p_target(logits, target)
        loss_i = focal_term(logp_y, self.gamma)
        if self.alpha is not None:
            if self.alpha.numel() != logits.shape[1]:
                raise GencalInputError(
                    f"alpha: has {self.alpha.numel()} weights but the logits have "
                    f"{logits.shape[1]} classes"
                )
            loss_i = loss_i * self.alpha.to(loss_i).gather(0, target)
        return self._single_term("focal", loss_i, valid, n_valid)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, " + super().extra_repr()


@register_loss("flsd53")
class FLSD53Loss(CalibrationLoss):
    """Focal loss with sample-dependent gamma, FLSD-53 (Mukhoti, Kulharia, Sanyal, Golodetz, Torr
    & Dokania, "Calibrating Deep Neural Networks using Focal Loss", NeurIPS 2020).

    ``gamma_i = 5`` if ``p_{i,y_i} < 0.2`` else ``3``; in general ``gamma_i = gammas[j]`` where
    ``j`` is the number of ``thresholds`` that are ``<= p_y`` (so ``thresholds`` ascending and
    ``len(gammas) == len(thresholds) + 1``). The schedule choice is made without gradient; the
    loss itself is the focal loss ``-(1 - p_y)^gamma_i log p_y`` with its full gradient.
    ``gammas=(g, g)`` is focal loss with that gamma; ``(0, 0)`` is cross-entropy.

    Args:
        thresholds: ascending probabilities where the gamma changes.
        gammas: ``len(thresholds) + 1`` values of gamma.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (see :class:`CalibrationLoss`).
        ignore_index: label of rows to leave out.
        validate_args: check for NaN/inf logits and out-of-range labels (one host sync).

    Shape:
        ``forward(logits [N, K], target [N])`` -> scalar, or ``[N]`` for ``reduction="none"``.

    Attributes:
        parts: ``{"focal": ...}``.

    Example:
        >>> import torch
        >>> loss = FLSD53Loss()(torch.tensor([[0.0, 0.0]]), torch.tensor([1]))  # p_y = 0.5: gamma 3
        >>> round(loss.item(), 4)  # (1 - 0.5)^3 * log 2
        0.0866
    """

    def __init__(
        self,
        thresholds: Sequence[float] = (0.2,),
        gammas: Sequence[float] = (5.0, 3.0),
        reduction: str = "mean",
        ignore_index: int = -100,
        validate_args: bool = True,
    ) -> None:
        super().__init__(
            reduction=reduction, ignore_index=ignore_index, validate_args=validate_args
        )
        th = [float(t) for t in thresholds]
        gm = [float(g) for g in gammas]
        if len(gm) != len(th) + 1:
            raise GencalInputError(
                f"gammas: need len(thresholds) + 1 = {len(th) + 1} values, got {len(gm)}"
            )
        if any(b <= a for a, b in itertools.pairwise(th)) or any(not 0.0 <= t <= 1.0 for t in th):
            raise GencalInputError(f"thresholds: must be strictly increasing in [0, 1], got {th}")
        if any(g < 0 for g in gm):
            raise GencalInputError(f"gammas: must be >= 0, got {gm}")
        self.thresholds = th
        self.gammas = gm

    def sample_gamma(self, p_y: torch.Tensor) -> torch.Tensor:
        """The per-sample gamma for true-class probabilities ``p_y`` (no gradient)."""
        with torch.no_grad():
            th = torch.tensor(self.thresholds, dtype=p_y.dtype, device=p_y.device)
            gm = torch.tensor(self.gammas, dtype=p_y.dtype, device=p_y.device)
            return gm[torch.bucketize(p_y.detach(), th, right=True)]

    def _forward(self, logits, target, valid, n_valid):
        _, logp_y = _log_p_target(logits, target)
        gamma = self.sample_gamma(logp_y.exp())
        return self._single_term("focal", focal_term(logp_y, gamma), valid, n_valid)

    def extra_repr(self) -> str:
        return f"thresholds={self.thresholds}, gammas={self.gammas}, " + super().extra_repr()


@register_loss("dual_focal")
class DualFocalLoss(CalibrationLoss):
    """Dual Focal Loss ``-(1 - p_y + p_j)^gamma log p_y`` (Tao, Dong & Xu, "Dual Focal Loss for
    Calibration", ICML 2023).

    ``p_j`` is, following the paper ("the highest logit ranked after the ground-truth logit")
    and its reference code, the largest probability strictly below ``p_y`` (0 when ``p_y`` is
    the smallest); when the label is the top-1 class this is the largest non-target
    probability. ``p_j="max_non_target"`` uses the largest non-target probability always. The
    gradient flows through both ``p_y`` and ``p_j``. ``gamma=0`` is cross-entropy.

    Args:
        gamma: focusing parameter (>= 0).
        p_j: ``"below_target"`` (the paper) or ``"max_non_target"``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (see :class:`CalibrationLoss`).
        ignore_index: label of rows to leave out.
        validate_args: check for NaN/inf logits and out-of-range labels (one host sync).

    Shape:
        ``forward(logits [N, K], target [N])`` -> scalar, or ``[N]`` for ``reduction="none"``.

    Attributes:
        parts: ``{"dual_focal": ...}``.

    Example:
        >>> import torch
        >>> loss = DualFocalLoss(gamma=1.0)(torch.tensor([[0.0, 0.0]]), torch.tensor([1]))
        >>> round(loss.item(), 4)  # p_y = 0.5, no probability below it: (1 - 0.5)^1 * log 2
        0.3466
    """

    def __init__(
        self,
        gamma: float = 5.0,
        p_j: str = "below_target",
        reduction: str = "mean",
        ignore_index: int = -100,
        validate_args: bool = True,
    ) -> None:
        super().__init__(
            reduction=reduction, ignore_index=ignore_index, validate_args=validate_args
        )
        if not float(gamma) >= 0.0:
            raise GencalInputError(f"gamma: must be >= 0, got {gamma}")
        if p_j not in ("below_target", "max_non_target"):
            raise GencalInputError(f"p_j: expected 'below_target' or 'max_non_target', got {p_j!r}")
        self.gamma = float(gamma)
        self.p_j = p_j

    def _forward(self, logits, target, valid, n_valid):
        logp, logp_y = _log_p_target(logits, target)
        p = logp.exp()
        p_y = logp_y.exp()
        zero = p.new_zeros(())
        if self.p_j == "below_target":
            others = torch.where(p < p_y.unsqueeze(1), p, zero)
        else:
            is_target = torch.zeros_like(p, dtype=torch.bool).scatter_(1, target.unsqueeze(1), True)
            others = torch.where(is_target, zero, p)
        p_j = others.max(dim=1).values
        base = (1.0 - p_y + p_j).clamp_min(torch.finfo(p.dtype).tiny)
        return self._single_term("dual_focal", -(base**self.gamma) * logp_y, valid, n_valid)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, p_j={self.p_j!r}, " + super().extra_repr()
