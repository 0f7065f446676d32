"""Cross-entropy + weighted MMCE (Kumar, Sarawagi & Jain, ICML 2018)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gencal._checks import GencalInputError
from gencal.losses.base import CalibrationLoss
from gencal.losses.registry import register_loss

__all__ = ["MMCELoss", "mmce_weighted"]


def mmce_weighted(
    logits: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor | None = None,
    kernel_width: float = 0.4,
    normalisation: str = "paper",
) -> torch.Tensor:
    r"""Weighted MMCE of a batch (differentiable, O(N^2) like the original).

    With top-label confidence ``r_i``, correctness ``c_i`` (argmax == label), ``m`` correct and
    ``n`` incorrect samples and the Laplacian kernel ``k(r, r') = exp(-|r - r'| / width)``::

        MMCE_w^2 = sum_{i,j correct} (1-r_i)(1-r_j) k / m^2 + sum_{i,j incorrect} r_i r_j k / n^2
                   - 2 sum_{i correct, j incorrect} (1-r_i) r_j k / (m n)

    i.e. ``v^T K v`` with ``v_i = c_i (1 - r_i) / m - (1 - c_i) r_i / n``; the result is
    ``sqrt(MMCE_w^2 + 1e-10)``, and 0 when all samples are correct or all incorrect.
    ``normalisation="reference"`` reproduces the released code (Kumar et al.'s TF code and
    Mukhoti et al.'s port), which divides each block once more by its number of pairs
    (``m^2``, ``n^2``, ``m n``): ``v_i = c_i (1 - r_i) / m^2 - (1 - c_i) r_i / n^2``.
    The gradient flows through the confidences ``r`` only.

    Args:
        logits: scores of every class.
        target: class indices.
        valid: rows to include (default: all).
        kernel_width: width of the Laplacian kernel.
        normalisation: ``"paper"`` or ``"reference"``.

    Shape:
        ``logits [N, K]``, ``target [N]`` -> scalar.

    Returns:
        The weighted MMCE of the batch (differentiable).

    Example:
        >>> import torch
        >>> mmce_weighted(torch.tensor([[2.0, 0.0], [1.0, 0.0]]), torch.tensor([0, 0])).item()
        0.0
    """
    probs = torch.softmax(logits, dim=1)
    conf, pred = probs.max(dim=1)
    if valid is None:
        valid = torch.ones_like(target, dtype=torch.bool)
    validf = valid.to(conf.dtype)
    correct = (pred == target).to(conf.dtype) * validf
    incorrect = (1.0 - correct) * validf
    m, n = correct.sum(), incorrect.sum()
    power = 1 if normalisation == "paper" else 2
    v = (
        correct * (1.0 - conf) / m.clamp(min=1) ** power
        - incorrect * conf / n.clamp(min=1) ** power
    )
    kernel = torch.exp(-(conf.unsqueeze(0) - conf.unsqueeze(1)).abs() / kernel_width)
    sq = (v.unsqueeze(0) * kernel * v.unsqueeze(1)).sum().clamp(min=0.0)
    both = ((m > 0) & (n > 0)).to(conf.dtype)
    return both * torch.sqrt(sq + 1e-10)


@register_loss("mmce")
class MMCELoss(CalibrationLoss):
    """Cross-entropy + ``lam`` x weighted MMCE (Kumar, Sarawagi & Jain, "Trainable Calibration
    Measures for Neural Networks from Kernel Mean Embeddings", ICML 2018).

    ``loss = CE_mean + lam * MMCE_w`` (see :func:`mmce_weighted`: Laplacian kernel of width
    0.4, as in the paper's code). ``lam=2`` is the MMCE baseline of Mukhoti et al. (NeurIPS
    2020). MMCE_w is a batch-level term: ``reduction="none"`` is not available and ``"sum"``
    is ``n_valid`` x ``"mean"``. ``lam=0`` is cross-entropy.

    Args:
        lam: weight of the MMCE term.
        kernel_width: width of the Laplacian kernel.
        normalisation: ``"paper"`` or ``"reference"`` (see :func:`mmce_weighted`).
        reduction: ``"mean"`` or ``"sum"`` (no ``"none"``: the term is batch-level).
        ignore_index: label of rows to leave out.
        validate_args: check for NaN/inf logits and out-of-range labels (one host sync).

    Shape:
        ``forward(logits [N, K], target [N])`` -> scalar.

    Attributes:
        parts: ``{"ce": ..., "mmce": ...}``, ``loss = ce + lam * mmce`` (before the sum
            scaling).

    Example:
        >>> import torch
        >>> loss = MMCELoss()(torch.tensor([[0.0, 0.0], [0.0, 0.0]]), torch.tensor([0, 0]))
        >>> round(loss.item(), 4)  # all correct: MMCE is 0, the loss is CE = log 2
        0.6931
    """

    supports_none = False

    def __init__(
        self,
        lam: float = 2.0,
        kernel_width: float = 0.4,
        normalisation: str = "paper",
        reduction: str = "mean",
        ignore_index: int = -100,
        validate_args: bool = True,
    ) -> None:
        super().__init__(
            reduction=reduction, ignore_index=ignore_index, validate_args=validate_args
        )
        if not float(kernel_width) > 0:
            raise GencalInputError(f"kernel_width: must be > 0, got {kernel_width}")
        if normalisation not in ("paper", "reference"):
            raise GencalInputError(
                f"normalisation: expected 'paper' or 'reference', got {normalisation!r}"
            )
        self.lam = float(lam)
        self.kernel_width = float(kernel_width)
        self.normalisation = normalisation

    def _forward(self, logits, target, valid, n_valid):
        ce_i = F.cross_entropy(logits, target, reduction="none")
        ce = self._mask(ce_i, valid).sum() / n_valid.clamp(min=1)
        mm = mmce_weighted(logits, target, valid, self.kernel_width, self.normalisation)
        self._set_parts(ce=ce, mmce=mm)
        out = ce + self.lam * mm
        return out * n_valid.to(out.dtype) if self.reduction == "sum" else out

    def extra_repr(self) -> str:
        return f"lam={self.lam}, kernel_width={self.kernel_width}, " + super().extra_repr()
