"""``calibration_report``: every metric in one pass over the scores, as a flat record of floats."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from gencal.metrics import functional
from gencal.metrics._inputs import Inputs, Prepared, prepare
from gencal.metrics.binning import (
    calibration_error_from_bins,
    check_n_bins,
    equal_mass_bin_sums,
    equal_width_bin_sums,
)
from gencal.metrics.groups import parse_groups
from gencal.metrics.selective import aurc_from_sorted, ood_scores_of
from gencal.metrics.smooth import smooth_ece_from_scores

__all__ = ["GROUP_METRICS", "calibration_report"]

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


def calibration_report(
    scores: Any,
    labels: Any,
    *,
    inputs: Inputs = "logits",
    n_bins: int = 15,
    groups: Mapping[Any, str] | Sequence[str] | None = None,
    ood_scores: Any = None,
    extra_ece_bins: Sequence[int] = (),
    nll_eps: float = functional.NLL_EPS,
    validate_args: bool = True,
) -> dict[str, float]:
    """All metrics of :mod:`gencal.metrics` in one pass, as ``{name: float}``.

    The softmax, max and argmax are computed once. Keys: ``n_samples accuracy error
    balanced_accuracy mean_confidence nll brier ece ece_l2 mce adaece classwise_ece smooth_ece
    aurc`` (``n_bins`` equal-width or equal-mass bins, :mod:`gencal.metrics.binning`),
    ``ece_<n>b`` for each of ``extra_ece_bins`` (e.g. 20), and

    - with ``groups`` (``{class: "many"|"medium"|"few"}`` or a length-K list):
      ``"<metric>@<group>"`` for the metrics in :data:`GROUP_METRICS`, on the samples whose
      *label* is in the group (``balanced_accuracy@g`` averages recall over the group's classes
      present);
    - with ``ood_scores`` (out-of-distribution scores of the same kind and K): ``ood_auroc`` and
      ``fpr_at_95_tpr`` from max-probability scores, in-distribution as the positive class.

    NLL from logits is the exact log-softmax value; from probabilities it is clamped at
    ``nll_eps``. Undefined entries (a group with no samples) are ``nan``.

    Args:
        scores: logits or probabilities (``inputs``) of every class; for a binary problem also a
            single column, the positive class's logit or probability (sigmoid convention).
        labels: integer class indices.
        inputs: ``"logits"`` (default) or ``"probs"``: what ``scores`` and ``ood_scores`` hold.
        n_bins: number of bins of the binned metrics.
        groups: class groups for the per-group metrics.
        ood_scores: scores of out-of-distribution samples.
        extra_ece_bins: further bin counts for which ECE is reported.
        nll_eps: clamp of the probability in the NLL from probabilities.
        validate_args: check values (NaN/inf, probabilities on the simplex, label range).

    Shape:
        ``scores [N, K]`` (or ``[N]`` / ``[N, 1]`` for binary), ``labels [N]``,
        ``ood_scores [M, K]``.

    Returns:
        A flat ``dict`` of floats.

    Example:
        >>> import torch
        >>> logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
        >>> rec = calibration_report(logits, torch.tensor([0, 1, 1]), n_bins=5)
        >>> round(rec["accuracy"], 4), round(rec["ece"], 4)
        (0.6667, 0.1938)
        >>> binary = calibration_report(torch.tensor([-2.0, 1.0, -1.0]), torch.tensor([0, 1, 1]))
        >>> round(binary["accuracy"], 4)
        0.6667
    """
    check_n_bins(n_bins)
    for nb in extra_ece_bins:
        check_n_bins(nb)
    prep = prepare(scores, labels, inputs, validate_args=validate_args)
    n = prep.n
    conf, correct = prep.conf, prep.correct
    nll = functional.nll_per_sample(prep, nll_eps)
    brier = functional.brier_per_sample(prep)

    rec: dict[str, float] = {}
    rec["n_samples"] = float(n)
    acc = float(correct.to(torch.float64).mean())
    rec["accuracy"] = acc
    rec["error"] = 1.0 - acc
    rec["balanced_accuracy"] = functional.balanced_accuracy_of(prep)
    rec["mean_confidence"] = float(conf.to(torch.float64).mean())
    rec["nll"] = float(nll.mean())
    rec["brier"] = float(brier.mean())
    bins = equal_width_bin_sums(conf, correct, n_bins, prep.edge_dtype)
    rec["ece"] = calibration_error_from_bins(*bins, norm="l1")
    rec["ece_l2"] = calibration_error_from_bins(*bins, norm="l2")
    rec["mce"] = calibration_error_from_bins(*bins, norm="max")
    for nb in extra_ece_bins:
        extra = equal_width_bin_sums(conf, correct, nb, prep.edge_dtype)
        rec[f"ece_{nb}b"] = calibration_error_from_bins(*extra, norm="l1")
    sorted_conf, order = torch.sort(conf, stable=True)
    sorted_correct = correct[order]
    ada = equal_mass_bin_sums(sorted_conf, sorted_correct, n_bins)
    rec["adaece"] = calibration_error_from_bins(*ada, norm="l1")
    rec["classwise_ece"] = functional.classwise_error_of(prep, n_bins, "l1")
    rec["smooth_ece"] = smooth_ece_from_scores(conf, correct)
    rec["aurc"] = aurc_from_sorted(sorted_conf.flip(0), sorted_correct.flip(0))

    if groups is not None:
        for grp, classes in parse_groups(groups, prep.num_classes).items():
            rec.update(_group_record(prep, grp, classes, nll, brier, n_bins))
    if ood_scores is not None:
        from gencal.metrics.selective import fpr_from_scores, ood_auroc_from_scores

        ood = ood_scores_of(ood_scores, inputs, prep.num_classes, validate_args)
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
    bins = equal_width_bin_sums(conf, correct, n_bins, prep.edge_dtype)
    out[f"ece@{grp}"] = calibration_error_from_bins(*bins, norm="l1")
    out[f"mce@{grp}"] = calibration_error_from_bins(*bins, norm="max")
    sorted_conf, order = torch.sort(conf, stable=True)
    ada = equal_mass_bin_sums(sorted_conf, correct[order], n_bins)
    out[f"adaece@{grp}"] = calibration_error_from_bins(*ada, norm="l1")
    return out
