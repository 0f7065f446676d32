"""Class groups for long-tailed data (many / medium / few shot) and metrics per group."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from gencal._checks import GencalInputError
from gencal.metrics._inputs import prepare_from_probs

__all__ = ["groups_from_counts", "metric_by_group", "parse_groups"]


def parse_groups(
    groups: Mapping[Any, str] | Sequence[str], num_classes: int
) -> dict[str, list[int]]:
    """``{class: group}`` (keys int or digit strings, e.g. from JSON) or a length-K sequence
    of group names -> ``{group: sorted classes}``. Classes not mentioned belong to no group."""
    if isinstance(groups, Mapping):
        items = list(groups.items())
    elif isinstance(groups, Sequence) and not isinstance(groups, str):
        if len(groups) != num_classes:
            raise GencalInputError(
                f"groups: a sequence must name one group per class ({num_classes}), got {len(groups)}"
            )
        items = list(enumerate(groups))
    else:
        raise GencalInputError(
            f"groups: expected a mapping class -> group, got {type(groups).__name__}"
        )
    out: dict[str, list[int]] = {}
    for key, grp in items:
        try:
            cls = int(key)
        except (TypeError, ValueError):
            raise GencalInputError(
                f"groups: class key {key!r} is not an integer class index"
            ) from None
        if not 0 <= cls < num_classes:
            raise GencalInputError(f"groups: class {cls} is out of range for {num_classes} classes")
        if not isinstance(grp, str) or not grp:
            raise GencalInputError(
                f"groups: group of class {cls} must be a non-empty string, got {grp!r}"
            )
        out.setdefault(grp, []).append(cls)
    return {g: sorted(c) for g, c in out.items()}


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
