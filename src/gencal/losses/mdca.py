"""Base loss + MDCA (Hebbalaguppe, Prakash, Madan & Arora, CVPR 2022)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gencal._checks import GencalInputError
from gencal.losses.base import CalibrationLoss
from gencal.losses.focal import focal_term
from gencal.losses.registry import register_loss

__all__ = ["MDCALoss", "mdca"]


def mdca(
    logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Multi-class difference in confidence and accuracy of a batch.

    ``MDCA = (1/K) sum_k | mean_i p_{i,k} - mean_i 1[y_i = k] |`` over the (non-ignored) batch.

    Args:
        logits: scores of every class.
        target: class indices (ignored rows may hold any valid index).
        valid: rows to include (default: all).

    Shape:
        ``logits [N, K]``, ``target [N]``, ``valid [N]`` -> scalar.

    Returns:
        The MDCA of the batch (differentiable).

    Example:
        >>> import torch
        >>> mdca(torch.tensor([[0.0, 0.0], [0.0, 0.0]]), torch.tensor([0, 0])).item()  # |0.5-1|, |0.5-0|
        0.5
    """
    probs = torch.softmax(logits, dim=1)
    k = logits.shape[1]
    onehot = F.one_hot(target, k).to(probs.dtype)
    if valid is not None:
        w = valid.to(probs.dtype).unsqueeze(1)
        probs, onehot = probs * w, onehot * w
        n = valid.sum().clamp(min=1).to(probs.dtype)
    else:
        n = torch.tensor(max(logits.shape[0], 1), dtype=probs.dtype, device=probs.device)
    return ((probs.sum(0) - onehot.sum(0)) / n).abs().mean()


@register_loss("mdca")
class MDCALoss(CalibrationLoss):
    """Base loss + ``beta`` x MDCA (Hebbalaguppe, Prakash, Madan & Arora, "A Stitch in Time Saves
    Nine: A Train-Time Regularizing Loss for Improved Neural Network Calibration", CVPR 2022).

    ``loss = base_mean + beta * (1/K) sum_k |mean_i p_{i,k} - mean_i onehot_{i,k}|`` with the
    base loss cross-entropy (``base="ce"``, the paper's NLL+MDCA) or focal loss
    (``base="focal"``, FL+MDCA, with ``gamma``). Defaults as in the reference code
    (beta=1, gamma=1). MDCA is a batch-level term: ``reduction="none"`` is not available and
    ``"sum"`` is ``n_valid`` x ``"mean"``. ``beta=0`` is the base loss.

    Args:
        beta: weight of the MDCA term.
        base: ``"ce"`` or ``"focal"``.
        gamma: focal gamma when ``base="focal"``.
        reduction: ``"mean"`` or ``"sum"`` (no ``"none"``: the term is batch-level).
        ignore_index: label of rows to leave out.
        validate_args: check for NaN/inf logits and out-of-range labels (one host sync).

    Shape:
        ``forward(logits [N, K], target [N])`` -> scalar.

    Attributes:
        parts: ``{"base": ..., "mdca": ...}``, ``loss = base + beta * mdca``.

    Example:
        >>> import torch
        >>> loss = MDCALoss()(torch.tensor([[0.0, 0.0], [0.0, 0.0]]), torch.tensor([0, 0]))
        >>> round(loss.item(), 4)  # log 2 + 0.5
        1.1931
    """

    supports_none = False

    def __init__(
        self,
        beta: float = 1.0,
        base: str = "ce",
        gamma: float = 1.0,
        reduction: str = "mean",
        ignore_index: int = -100,
        validate_args: bool = True,
    ) -> None:
        super().__init__(
            reduction=reduction, ignore_index=ignore_index, validate_args=validate_args
        )
        if base not in ("ce", "focal"):
            raise GencalInputError(f"base: expected 'ce' or 'focal', got {base!r}")
        if not float(gamma) >= 0:
            raise GencalInputError(f"gamma: must be >= 0, got {gamma}")
        self.beta = float(beta)
        self.base = base
        self.gamma = float(gamma)

    def _forward(self, logits, target, valid, n_valid):
        logp_y = torch.log_softmax(logits, dim=1).gather(1, target.unsqueeze(1)).squeeze(1)
        base_i = -logp_y if self.base == "ce" else focal_term(logp_y, self.gamma)
        base = self._mask(base_i, valid).sum() / n_valid.clamp(min=1)
        reg = mdca(logits, target, valid)
        self._set_parts(base=base, mdca=reg)
        out = base + self.beta * reg
        return out * n_valid.to(out.dtype) if self.reduction == "sum" else out

    def extra_repr(self) -> str:
        return f"beta={self.beta}, base={self.base!r}, " + super().extra_repr()
