"""``calibration_report``: every metric in one pass over the scores, as a flat record of floats."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from gencal._checks import GencalInputError
from gencal.metrics import functional as F
from gencal.metrics._inputs import Prepared, prepare_from_logits, prepare_from_probs
from gencal.metrics.selective import aurc_from_sorted
from gencal.metrics.smooth import smooth_ece_from_scores

__all__ = ["GROUP_METRICS", "calibration_report", "parse_groups"]

#: metrics reported per class group as ``"<metric>@<group>"``
GROUP_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "nll",
    "brier",
    "ece",
    "adaece",
    "mce",
    "n_samples",
)


def _prepare(labels: Any, logits: Any, probs: Any, name: str, validate_args: bool) -> Prepared:
    if (logits is None) == (probs is None):
        both = "both" if logits is not None else "neither"
        raise GencalInputError(
            f"{name}: pass exactly one of logits=... or probs=... by keyword (got {both})"
        )
    if logits is not None:
        return prepare_from_logits(logits, labels, validate_args=validate_args)
    return prepare_from_probs(probs, labels, validate_args=validate_args)


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


def calibration_report(
    labels: Any,
    *,
    logits: Any = None,
    probs: Any = None,
    n_bins: int = 15,
    groups: Mapping[Any, str] | Sequence[str] | None = None,
    ood_logits: Any = None,
    ood_probs: Any = None,
    extra_ece_bins: Sequence[int] = (),
    nll_eps: float = F.NLL_EPS,
    validate_args: bool = True,
) -> dict[str, float]:
    """All metrics of :mod:`gencal.metrics` in one pass, as ``{name: float}``.

    Exactly one of ``logits=`` / ``probs=`` (``[N, K]``), by keyword; nothing is guessed. The
    softmax, max and argmax are computed once. Keys: ``n_samples accuracy error
    balanced_accuracy mean_confidence nll brier ece ece_l2 mce adaece classwise_ece smooth_ece
    aurc`` (``n_bins`` equal-width or equal-mass bins), ``ece_<n>b`` for each of ``extra_ece_bins`` (e.g. 20, the
    paper's), and

    - with ``groups`` (``{class: "many"|"medium"|"few"}`` or a length-K list): ``"<metric>@<group>"``
      for the metrics in :data:`GROUP_METRICS`, on the samples whose *label* is in the group
      (``balanced_accuracy@g`` averages recall over the group's classes present);
    - with ``ood_logits=`` or ``ood_probs=`` (out-of-distribution scores, same K): ``ood_auroc``
      and ``fpr_at_95_tpr`` from max-probability scores, in-distribution as the positive class.

    NLL from ``logits=`` is the exact log-softmax value; from ``probs=`` it is clamped at
    ``nll_eps``. Values of undefined entries (a group with no samples) are ``nan``.
    """
    F._check_n_bins(n_bins)
    for nb in extra_ece_bins:
        F._check_n_bins(nb)
    prep = _prepare(labels, logits, probs, "calibration_report", validate_args)
    n = prep.n
    conf, correct = prep.conf, prep.correct
    nll = F.nll_per_sample(prep, nll_eps)
    brier = F.brier_per_sample(prep)

    rec: dict[str, float] = {}
    rec["n_samples"] = float(n)
    acc = float(correct.to(torch.float64).mean())
    rec["accuracy"] = acc
    rec["error"] = 1.0 - acc
    rec["balanced_accuracy"] = F._balanced_accuracy(prep)
    rec["mean_confidence"] = float(conf.to(torch.float64).mean())
    rec["nll"] = float(nll.mean())
    rec["brier"] = float(brier.mean())
    bins = F.top_label_bins(conf, correct, n_bins, prep.edge_dtype)
    rec["ece"] = F.ce_from_bins(*bins, norm="l1")
    rec["ece_l2"] = F.ce_from_bins(*bins, norm="l2")
    rec["mce"] = F.ce_from_bins(*bins, norm="max")
    for nb in extra_ece_bins:
        rec[f"ece_{nb}b"] = F.ce_from_bins(
            *F.top_label_bins(conf, correct, nb, prep.edge_dtype), norm="l1"
        )
    sorted_conf, order = torch.sort(conf, stable=True)
    sorted_correct = correct[order]
    rec["adaece"] = F._adaece_from_sorted(sorted_conf, sorted_correct, n_bins, "l1")
    rec["classwise_ece"] = F._classwise(prep, n_bins, "l1")
    rec["smooth_ece"] = smooth_ece_from_scores(conf, correct)
    rec["aurc"] = aurc_from_sorted(sorted_conf.flip(0), sorted_correct.flip(0))

    if groups is not None:
        for grp, classes in parse_groups(groups, prep.num_classes).items():
            rec.update(_group_record(prep, grp, classes, nll, brier, n_bins))
    if ood_logits is not None or ood_probs is not None:
        from gencal.metrics.selective import _ood_scores, fpr_from_scores, ood_auroc_from_scores

        ood = _ood_scores(ood_logits, ood_probs, prep.num_classes, validate_args)
        rec["ood_auroc"] = ood_auroc_from_scores(conf, ood)
        rec["fpr_at_95_tpr"] = fpr_from_scores(conf, ood, 0.95)
    return rec


def _group_record(
    prep: Prepared,
    grp: str,
    classes: list[int],
    nll: torch.Tensor,
    brier: torch.Tensor,
    n_bins: int,
) -> dict[str, float]:
    member = torch.zeros(prep.num_classes, dtype=torch.bool, device=prep.labels.device)
    member[classes] = True
    mask = member[prep.labels]
    m = int(mask.sum())
    out = {f"{k}@{grp}": float("nan") for k in GROUP_METRICS}
    out[f"n_samples@{grp}"] = float(m)
    if m == 0:
        return out
    conf, correct, labels = prep.conf[mask], prep.correct[mask], prep.labels[mask]
    out[f"accuracy@{grp}"] = float(correct.to(torch.float64).mean())
    k = prep.num_classes
    support = torch.bincount(labels, minlength=k).to(torch.float64)
    hits = torch.bincount(labels[correct], minlength=k).to(torch.float64)
    present = support > 0
    out[f"balanced_accuracy@{grp}"] = float((hits[present] / support[present]).mean())
    out[f"nll@{grp}"] = float(nll[mask].mean())
    out[f"brier@{grp}"] = float(brier[mask].mean())
    bins = F.top_label_bins(conf, correct, n_bins, prep.edge_dtype)
    out[f"ece@{grp}"] = F.ce_from_bins(*bins, norm="l1")
    out[f"mce@{grp}"] = F.ce_from_bins(*bins, norm="max")
    sc, order = torch.sort(conf, stable=True)
    out[f"adaece@{grp}"] = F._adaece_from_sorted(sc, correct[order], n_bins, "l1")
    return out
