"""Learning-rate schedules with a linear warm-up, as torch ``LambdaLR`` schedulers.

torch has multi-step and cosine schedulers, but no warm-up in front of them without chaining
(``SequentialLR``), whose state and epoch counting make exact resumption harder to follow. Each
schedule here is one formula of the epoch ``e`` (0-based), stepped once per epoch:

- multistep: ``gamma ** (number of milestones <= e)``
- cosine: ``m + (1 - m) (1 + cos(pi t)) / 2`` with ``t = (e - w) / (E - w)`` clipped to [0, 1]
  and ``m = min_lr / lr``
- constant: ``1``

times the warm-up factor ``0.1 + 0.9 e / w`` while ``e < w`` (``w = warmup_epochs``).
The configs in ``configs/scheduler/`` build them with ``hydra.utils.instantiate``; any
``torch.optim.lr_scheduler`` class can be configured the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from gencal._checks import GencalInputError

__all__ = ["constant", "cosine", "lr_factor", "multistep"]


def lr_factor(
    epoch: int,
    *,
    milestones: Sequence[int] | None = None,
    gamma: float = 0.1,
    epochs: int | None = None,
    min_ratio: float = 0.0,
    warmup_epochs: int = 0,
) -> float:
    """Multiplier of the base learning rate at ``epoch`` (0-based).

    ``milestones`` given: multi-step; ``epochs`` given: cosine down to ``min_ratio``; neither:
    constant. The warm-up factor multiplies the result during the first ``warmup_epochs``.

    Example:
        >>> [round(lr_factor(e, milestones=[2, 4]), 4) for e in range(5)]
        [1.0, 1.0, 0.1, 0.1, 0.01]
        >>> [round(lr_factor(e, epochs=4), 3) for e in range(5)]
        [1.0, 0.854, 0.5, 0.146, 0.0]
        >>> [round(lr_factor(e, warmup_epochs=2), 2) for e in range(3)]
        [0.1, 0.55, 1.0]
    """
    warm = int(warmup_epochs or 0)
    if milestones is not None:
        f = float(gamma) ** sum(1 for m in milestones if epoch >= int(m))
    elif epochs is not None:
        span = max(int(epochs) - warm, 1)
        t = min(max(epoch - warm, 0), span) / span
        f = min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))
    else:
        f = 1.0
    if warm > 0 and epoch < warm:
        f *= 0.1 + 0.9 * epoch / warm
    return f


def _check_warmup(warmup_epochs: int) -> int:
    if int(warmup_epochs) < 0:
        raise GencalInputError(f"scheduler.warmup_epochs: expected >= 0, got {warmup_epochs}")
    return int(warmup_epochs)


def multistep(
    optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1, warmup_epochs: int = 0
) -> LambdaLR:
    """Multi-step decay after an optional linear warm-up.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        >>> sched = multistep(opt, milestones=[1])
        >>> opt.step(); sched.step(); round(opt.param_groups[0]["lr"], 6)
        0.01
    """
    if not 0.0 < float(gamma) <= 1.0:
        raise GencalInputError(f"scheduler.gamma: expected a factor in (0, 1], got {gamma}")
    ms = [int(m) for m in milestones]
    warm = _check_warmup(warmup_epochs)
    return LambdaLR(
        optimizer, lambda e: lr_factor(e, milestones=ms, gamma=float(gamma), warmup_epochs=warm)
    )


def cosine(
    optimizer: Optimizer, epochs: int, min_lr: float = 0.0, warmup_epochs: int = 0
) -> LambdaLR:
    """Cosine decay from the optimiser's lr to ``min_lr`` over ``epochs``, after a warm-up.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        >>> sched = cosine(opt, epochs=2)
        >>> opt.step(); sched.step(); round(opt.param_groups[0]["lr"], 6)
        0.05
    """
    if int(epochs) < 1:
        raise GencalInputError(f"scheduler.epochs: expected >= 1, got {epochs}")
    base = float(optimizer.param_groups[0]["lr"])
    ratio = float(min_lr) / base if base > 0 else 0.0
    warm = _check_warmup(warmup_epochs)
    n = int(epochs)
    return LambdaLR(
        optimizer, lambda e: lr_factor(e, epochs=n, min_ratio=ratio, warmup_epochs=warm)
    )


def constant(optimizer: Optimizer, warmup_epochs: int = 0) -> LambdaLR:
    """A constant learning rate after an optional linear warm-up.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        >>> sched = constant(opt, warmup_epochs=2); round(opt.param_groups[0]["lr"], 6)
        0.01
    """
    warm = _check_warmup(warmup_epochs)
    return LambdaLR(optimizer, lambda e: lr_factor(e, warmup_epochs=warm))
