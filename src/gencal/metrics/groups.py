"""Class groups for long-tailed data (many / medium / few shot) and metrics per group."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from gencal._checks import GencalInputError
from gencal.metrics._inputs import prepare_from_probs
from gencal.metrics.report import parse_groups

__all__ = ["groups_from_counts", "metric_by_group", "parse_groups"]


def groups_from_counts(
    train_counts: Sequence[int] | np.ndarray | torch.Tensor, *, many: int = 100, few: int = 20
) -> dict[int, str]:
    """The usual long-tailed split (Liu et al. 2019, OLTR): a class with more than ``many``
    training images is "many", fewer than ``few`` is "few", otherwise "medium"."""
    counts = np.asarray(torch.as_tensor(train_counts).cpu()).reshape(-1)
    if few > many:
        raise GencalInputError(f"few ({few}) must not exceed many ({many})")
    out = {}
    for c, n in enumerate(counts.tolist()):
        out[c] = "many" if n > many else ("few" if n < few else "medium")
    return out


def metric_by_group(
    metric_fn: Callable[..., float],
    probs: Any,
    labels: Any,
    groups: Mapping[Any, str] | Sequence[str],
    *,
    validate_args: bool = True,
) -> dict[str, float]:
    """``{group: metric_fn(probs[m], labels[m])}`` with ``m`` the samples whose *label* is in the
    group (the long-tailed convention: "few-shot accuracy" is accuracy on the test samples of
    few-shot classes). A group without samples gives ``nan``. Probabilities keep all K columns.
    """
    prep = prepare_from_probs(probs, labels, validate_args=validate_args)
    out: dict[str, float] = {}
    for grp, classes in parse_groups(groups, prep.num_classes).items():
        member = torch.zeros(prep.num_classes, dtype=torch.bool, device=prep.labels.device)
        member[classes] = True
        mask = member[prep.labels]
        if not bool(mask.any()):
            out[grp] = float("nan")
            continue
        out[grp] = float(metric_fn(prep.probs[mask], prep.labels[mask]))
    return out
