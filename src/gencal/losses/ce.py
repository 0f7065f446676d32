"""Cross-entropy and label smoothing."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gencal._checks import GencalInputError
from gencal.losses.base import CalibrationLoss
from gencal.losses.registry import register_loss

__all__ = ["CrossEntropyLoss", "LabelSmoothingLoss"]


@register_loss("ce")
class CrossEntropyLoss(CalibrationLoss):
    """Cross-entropy ``-log softmax(z)_y`` (the negative log-likelihood of the label).

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (see :class:`CalibrationLoss`).
        ignore_index: label of rows to leave out.
        validate_args: check for NaN/inf logits and out-of-range labels (one host sync).

    Shape:
        ``forward(logits [N, K], target [N])`` -> scalar, or ``[N]`` for ``reduction="none"``.

    Example:
        >>> import torch
        >>> round(CrossEntropyLoss()(torch.tensor([[0.0, 0.0]]), torch.tensor([1])).item(), 4)
        0.6931
    """

    def _forward(self, logits, target, valid, n_valid):
        if self._n_valid_host == logits.shape[0] and logits.shape[0]:
            # no ignored row (known from the validation sync): torch's own reduction
            out = F.cross_entropy(logits, target, reduction=self.reduction)
        else:
            ce_i = self._mask(F.cross_entropy(logits, target, reduction="none"), valid)
            out = self._reduce(ce_i, n_valid)
        self._set_parts(ce=out)
        return out


@register_loss("label_smoothing")
class LabelSmoothingLoss(CalibrationLoss):
    """Cross-entropy against smoothed targets (Szegedy et al., CVPR 2016, "Rethinking the
    Inception Architecture"; used for calibration by Müller, Kornblith & Hinton, NeurIPS 2019).

    Convention (the same as ``torch.nn.functional.cross_entropy(label_smoothing=eps)``): the
    target distribution is ``(1 - eps) * onehot(y) + eps / K`` (the uniform share ``eps / K``
    also goes to the true class), so::

        loss_i = (1 - eps) * (-log p_{i,y_i}) + eps * mean_k(-log p_{i,k})

    Args:
        smoothing: ``eps`` in [0, 1].
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (see :class:`CalibrationLoss`).
        ignore_index: label of rows to leave out.
        validate_args: check for NaN/inf logits and out-of-range labels (one host sync).

    Shape:
        ``forward(logits [N, K], target [N])`` -> scalar, or ``[N]`` for ``reduction="none"``.

    Attributes:
        parts: ``{"ce": ..., "uniform": ...}``, ``loss = (1 - eps) * ce + eps * uniform``.

    Example:
        >>> import torch
        >>> z, y = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([1])
        >>> ours = LabelSmoothingLoss(smoothing=0.1)(z, y)
        >>> torch.allclose(ours, torch.nn.functional.cross_entropy(z, y, label_smoothing=0.1))
        True
    """

    def __init__(
        self,
        smoothing: float = 0.05,
        reduction: str = "mean",
        ignore_index: int = -100,
        validate_args: bool = True,
    ) -> None:
        super().__init__(
            reduction=reduction, ignore_index=ignore_index, validate_args=validate_args
        )
        if not 0.0 <= float(smoothing) <= 1.0:
            raise GencalInputError(f"smoothing: must lie in [0, 1], got {smoothing}")
        self.smoothing = float(smoothing)

    def _forward(self, logits, target, valid, n_valid):
        logp = torch.log_softmax(logits, dim=1)
        nll_i = self._mask(-logp.gather(1, target.unsqueeze(1)).squeeze(1), valid)
        uni_i = self._mask(-logp.mean(dim=1), valid)
        eps = self.smoothing
        loss_i = (1.0 - eps) * nll_i + eps * uni_i
        self._set_parts(ce=self._reduce(nll_i, n_valid), uniform=self._reduce(uni_i, n_valid))
        return self._reduce(loss_i, n_valid)

    def extra_repr(self) -> str:
        return f"smoothing={self.smoothing}, " + super().extra_repr()
