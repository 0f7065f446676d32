"""Base class shared by every training loss in :mod:`gencal.losses`.

Conventions (all losses):

- ``forward(logits [N, K] float, target [N] int64)``; scores are logits, never probabilities.
- ``reduction``: ``"mean"`` averages the per-sample losses over the rows whose label is not
  ``ignore_index`` (0 when there are none: an all-ignored or empty batch gives a zero loss that
  still has a gradient of zeros, never NaN); ``"sum"`` sums them; ``"none"`` returns ``[N]``
  with 0 on ignored rows. Losses with a batch-level term (MMCE, MDCA) define ``"sum"`` as
  ``n_valid x "mean"`` and reject ``"none"``.
- float16/bfloat16 logits are computed in float32 (as autocast does for ``cross_entropy``); the
  result is float32 and the gradient flows back to the half-precision logits.
- ``parts`` holds the detached named terms of the last forward, reduced like the loss, e.g.
  ``{"ce": ..., "regulariser": ...}``; a single-term loss reports ``{name: value}``.
- ``update(val_logits, val_labels)`` is a hook the trainer calls once per epoch with the
  calibration split's logits; it is a no-op unless ``needs_update`` is True (AdaFocal).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from gencal._checks import GencalInputError, check_labels, check_logits

__all__ = ["CalibrationLoss", "reduce_per_sample"]

_REDUCTIONS = ("mean", "sum", "none")


def reduce_per_sample(values: torch.Tensor, n_valid: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce per-sample values (already zero on ignored rows) over the batch.

    ``n_valid`` is the number of non-ignored rows (a 0-d tensor); ``"mean"`` divides by
    ``max(n_valid, 1)`` so that an all-ignored batch gives 0 rather than NaN.

    Args:
        values: per-sample values, 0 on ignored rows.
        n_valid: number of non-ignored rows (0-d tensor).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        ``values [N]`` -> scalar, or ``[N]`` for ``"none"``.

    Returns:
        The reduced values.

    Example:
        >>> import torch
        >>> reduce_per_sample(torch.tensor([2.0, 0.0, 4.0]), torch.tensor(2), "mean")
        tensor(3.)
    """
    if reduction == "none":
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    return total / n_valid.clamp(min=1).to(total.dtype)


class CalibrationLoss(nn.Module):
    """Base class: validation, ignore_index handling, reductions and the ``parts`` record.

    Subclasses implement :meth:`_forward`, which receives float logits (float32 or float64),
    the labels with ignored rows replaced by 0 (``target_safe``), the boolean ``valid`` mask and
    ``n_valid``, and returns the reduced loss (setting ``self.parts``).

    Args:
        reduction: ``"mean"`` over the non-ignored rows (0 if none), ``"sum"``, or ``"none"``
            (``[N]``, 0 on ignored rows).
        ignore_index: label of rows to leave out.
        validate_args: check for NaN/inf logits and out-of-range labels with one host sync;
            shapes and dtypes are always checked.

    Shape:
        ``forward(logits [N, K], target [N])`` -> scalar, or ``[N]`` for ``reduction="none"``.

    Attributes:
        parts: detached named terms of the last forward, reduced like the loss.

    Example:
        >>> import torch
        >>> class SquaredLogitLoss(CalibrationLoss):
        ...     def _forward(self, logits, target, valid, n_valid):
        ...         z_y = logits.gather(1, target[:, None]).squeeze(1)
        ...         return self._single_term("sq", z_y**2, valid, n_valid)
        >>> SquaredLogitLoss()(torch.tensor([[1.0, 3.0], [2.0, 0.0]]), torch.tensor([1, -100]))
        tensor(9.)
    """

    #: registry name; set by ``register_loss``
    name: ClassVar[str] = "loss"
    #: whether the trainer should call :meth:`update` each epoch
    needs_update: ClassVar[bool] = False
    #: whether ``reduction="none"`` is meaningful (per-sample loss exists)
    supports_none: ClassVar[bool] = True

    def __init__(
        self,
        reduction: str = "mean",
        ignore_index: int = -100,
        validate_args: bool = True,
    ) -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise GencalInputError(f"reduction: expected one of {_REDUCTIONS}, got {reduction!r}")
        if reduction == "none" and not self.supports_none:
            raise GencalInputError(
                f"reduction: {type(self).__name__} has a batch-level term and no per-sample "
                "loss; use 'mean' or 'sum'"
            )
        self.reduction = reduction
        self.ignore_index = int(ignore_index)
        self.validate_args = bool(validate_args)
        self.parts: dict[str, torch.Tensor] = {}
        #: the number of non-ignored rows of the current call when the value checks read it
        #: back (``validate_args=True``), else None; subclasses use it to skip masking when no
        #: row is ignored
        self._n_valid_host: int | None = None

    # ------------------------------------------------------------------ helpers
    def _check_structure(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """Types, shapes and dtypes (no values, no device sync): always checked."""
        check_logits(logits, "logits", values=False)
        check_labels(
            target,
            logits.shape[1],
            logits.shape[0],
            "target",
            ignore_index=self.ignore_index,
            values=False,
        )

    def _check_values(
        self,
        logits: torch.Tensor,
        target_safe: torch.Tensor,
        n_valid: torch.Tensor,
    ) -> int:
        """NaN/inf logits and label range with **one** host sync; returns ``n_valid`` as an int.

        A NaN or inf anywhere makes the logits' sum non-finite (one reduction, several times
        cheaper than ``isfinite().all()``); only a non-finite sum (bad values, or a rare
        overflow of finite ones) pays for the element-wise check and its message. The label
        range is the min/max of ``target_safe`` (ignored rows replaced by 0, which is in range).
        The sum, the label min/max and ``n_valid`` come back to the host together, as float64
        (exact for any count or label below 2**53).
        """
        n, k = logits.shape
        if n == 0:
            return 0
        total = logits.detach().sum(dtype=torch.float32 if logits.itemsize < 4 else None)
        lo, hi = torch.aminmax(target_safe)
        values = torch.stack([total.double(), lo.double(), hi.double(), n_valid.double()])
        total_h, lo_h, hi_h, n_ok = values.tolist()
        lo_h, hi_h, n_ok = int(lo_h), int(hi_h), int(n_ok)
        if not math.isfinite(total_h):
            check_logits(logits, "logits", values=True)  # raises with the NaN/inf counts
        if n_ok and (lo_h < 0 or hi_h >= k):
            bad = lo_h if lo_h < 0 else hi_h
            raise GencalInputError(
                f"target: label {bad} is out of range for {k} classes (expected 0..{k - 1})"
            )
        return n_ok

    def _reduce(self, values: torch.Tensor, n_valid: torch.Tensor) -> torch.Tensor:
        n_host = self._n_valid_host
        if n_host is not None and self.reduction == "mean":  # count known: no tensor ops
            return values.sum() / max(n_host, 1)
        return reduce_per_sample(values, n_valid, self.reduction)

    def _mask(self, values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``values`` with 0 on ignored rows; no op when no row is known to be ignored."""
        if self._n_valid_host is not None and self._n_valid_host == values.shape[0]:
            return values
        return torch.where(valid, values, 0.0)

    def _set_parts(self, **parts: torch.Tensor) -> None:
        self.parts = {k: v.detach() for k, v in parts.items()}

    def _single_term(
        self, name: str, values: torch.Tensor, valid: torch.Tensor, n_valid: torch.Tensor
    ) -> torch.Tensor:
        """Mask ignored rows of per-sample ``values``, reduce, report as ``parts[name]``."""
        out = self._reduce(self._mask(values, valid), n_valid)
        self._set_parts(**{name: out})
        return out

    # ------------------------------------------------------------------ API
    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of ``logits [N, K]`` against integer ``target [N]`` (see the module docstring)."""
        # Shapes and dtypes are always checked (cheap, no device sync); values (NaN/inf,
        # label range) only when validate_args is True, with a single host sync that also
        # tells whether any row is ignored.
        self._check_structure(logits, target)
        valid = target != self.ignore_index
        n_valid = torch.count_nonzero(valid)  # int64, like valid.sum(), in fewer ops
        n_host: int | None = None
        if self.validate_args:
            target_safe = target * valid  # ignored rows -> 0 (one kernel, no scalar tensor)
            n_host = self._check_values(logits, target_safe, n_valid)
        self._n_valid_host = n_host
        if n_host is not None and n_host == target.shape[0]:
            target_safe = target  # no ignored row: nothing to replace, no masking below
        elif not self.validate_args:
            target_safe = target * valid
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()
        return self._forward(logits, target_safe, valid, n_valid)

    def _forward(
        self,
        logits: torch.Tensor,
        target: torch.Tensor,
        valid: torch.Tensor,
        n_valid: torch.Tensor,
    ) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def update(self, val_logits: torch.Tensor, val_labels: torch.Tensor) -> None:
        """Per-epoch hook with the calibration split's logits; a no-op unless ``needs_update``."""

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, ignore_index={self.ignore_index}"
