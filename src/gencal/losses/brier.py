"""Brier score as a training loss (Brier, Monthly Weather Review 1950)."""

from __future__ import annotations

import torch

from gencal.losses.base import CalibrationLoss
from gencal.losses.registry import register_loss

__all__ = ["BrierLoss"]


@register_loss("brier")
class BrierLoss(CalibrationLoss):
    """Multi-class Brier score ``sum_k (p_k - onehot(y)_k)^2`` per sample, averaged over the batch.

    Brier, "Verification of Forecasts Expressed in Terms of Probability", Monthly Weather Review
    1950; a calibration baseline in Mukhoti et al. (NeurIPS 2020). Computed as
    ``sum_k p_k^2 - 2 p_y + 1`` (no one-hot matrix).

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (see :class:`CalibrationLoss`).
        ignore_index: label of rows to leave out.
        validate_args: check for NaN/inf logits and out-of-range labels (one host sync).

    Shape:
        ``forward(logits [N, K], target [N])`` -> scalar, or ``[N]`` for ``reduction="none"``.

    Attributes:
        parts: ``{"brier": ...}``.

    Example:
        >>> import torch
        >>> BrierLoss()(torch.tensor([[0.0, 0.0]]), torch.tensor([1])).item()  # 0.5^2 + 0.5^2
        0.5
    """

    def _forward(self, logits, target, valid, n_valid):
        p = torch.softmax(logits, dim=1)
        p_y = p.gather(1, target.unsqueeze(1)).squeeze(1)
        loss_i = (p * p).sum(dim=1) - 2.0 * p_y + 1.0
        return self._single_term("brier", loss_i, valid, n_valid)
