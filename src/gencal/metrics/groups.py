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
    of group names -> ``{group: sorted classes}``. Classes not mentioned belong to no group.

    Args:
        groups: ``{class: group}`` or one group name per class.
        num_classes: K.

    Returns:
        ``{group: sorted classes}``.

    Example:
        >>> parse_groups(["many", "few", "many"], 3)
        {'many': [0, 2], 'few': [1]}
    """
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
    training images is "many", fewer than ``few`` is "few", otherwise "medium".

    Args:
        train_counts: training images per class.
        many: a class with more images is "many".
        few: a class with fewer images is "few".

    Returns:
        ``{class: group}``.

    Example:
        >>> groups_from_counts([500, 50, 5])
        {0: 'many', 1: 'medium', 2: 'few'}
    """
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

    Args:
        metric_fn: a functional metric ``metric_fn(probs, labels) -> float``.
        probs: probabilities of every class.
        labels: integer class indices.
        groups: ``{class: group}`` or one group name per class.
        validate_args: check values (NaN/inf, simplex, label range).

    Shape:
        ``probs [N, K]``, ``labels [N]``.

    Returns:
        ``{group: value}``.

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> from gencal.metrics import accuracy
        >>> metric_by_group(accuracy, probs, labels, ["head", "tail"])
        {'head': 1.0, 'tail': 0.6666666666666666}
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
