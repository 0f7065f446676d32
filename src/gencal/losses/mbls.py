"""Margin-based label smoothing, MbLS (Liu, Ben Ayed, Galdran & Dolz, CVPR 2022)."""

from __future__ import annotations

import torch.nn.functional as F

from gencal._checks import GencalInputError
from gencal.losses.base import CalibrationLoss
from gencal.losses.registry import register_loss

__all__ = ["MbLSLoss"]


@register_loss("mbls")
class MbLSLoss(CalibrationLoss):
    """Cross-entropy + ``alpha`` x a hinge on logit distances (Liu, Ben Ayed, Galdran & Dolz,
    "The Devil is in the Margins: Margin-based Label Smoothing for Network Calibration",
    CVPR 2022).

    Per sample::

        loss_i = CE_i + alpha * agg_k relu(max_j z_{i,j} - z_{i,k} - margin)

    with ``agg`` the mean over the K classes (``margin_reduction="mean"``, the authors' code
    ``F.relu(diff - margin).mean()``, for which alpha=0.1 and margin=10 were tuned) or the sum
    (``"sum"``, the paper's equation as printed). ``alpha=0`` is cross-entropy. Operates on
    logits, not probabilities.

    Args:
        margin: logit distance allowed before the hinge acts.
        alpha: weight of the hinge term.
        margin_reduction: ``"mean"`` or ``"sum"`` over the classes.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (see :class:`CalibrationLoss`).
        ignore_index: label of rows to leave out.
        validate_args: check for NaN/inf logits and out-of-range labels (one host sync).

    Shape:
        ``forward(logits [N, K], target [N])`` -> scalar, or ``[N]`` for ``reduction="none"``.

    Attributes:
        parts: ``{"ce": ..., "margin": ...}``, ``loss = ce + alpha * margin``.

    Example:
        >>> import torch
        >>> loss = MbLSLoss()(torch.tensor([[0.0, 30.0]]), torch.tensor([1]))
        >>> round(loss.item(), 4)  # CE ~ 0, hinge mean(relu([30, 0] - 10)) = 10, times 0.1
        1.0
    """

    def __init__(
        self,
        margin: float = 10.0,
        alpha: float = 0.1,
        margin_reduction: str = "mean",
        reduction: str = "mean",
        ignore_index: int = -100,
        validate_args: bool = True,
    ) -> None:
        super().__init__(
            reduction=reduction, ignore_index=ignore_index, validate_args=validate_args
        )
        if margin_reduction not in ("mean", "sum"):
            raise GencalInputError(
                f"margin_reduction: expected 'mean' or 'sum', got {margin_reduction!r}"
            )
        self.margin = float(margin)
        self.alpha = float(alpha)
        self.margin_reduction = margin_reduction

    def _forward(self, logits, target, valid, n_valid):
        ce_i = self._mask(F.cross_entropy(logits, target, reduction="none"), valid)
        diff = logits.max(dim=1, keepdim=True).values - logits
        hinge = F.relu(diff - self.margin)
        hinge_i = hinge.mean(dim=1) if self.margin_reduction == "mean" else hinge.sum(dim=1)
        hinge_i = self._mask(hinge_i, valid)
        loss_i = ce_i + self.alpha * hinge_i
        self._set_parts(ce=self._reduce(ce_i, n_valid), margin=self._reduce(hinge_i, n_valid))
        return self._reduce(loss_i, n_valid)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, alpha={self.alpha}, " + super().extra_repr()
