"""Selective prediction (AURC) and OOD detection (AUROC, FPR@95%TPR) from max-probability scores."""

from __future__ import annotations

import math
from typing import Any

import torch

from gencal._checks import GencalInputError
from gencal.metrics._inputs import (
    Inputs,
    check_probs_fast,
    prepare_from_logits,
    prepare_from_probs,
    to_float,
    two_columns,
)

__all__ = [
    "aurc",
    "aurc_from_scores",
    "aurc_from_sorted",
    "fpr_at_95_tpr",
    "fpr_from_scores",
    "ood_auroc",
    "ood_auroc_from_scores",
]


def aurc_from_scores(conf: torch.Tensor, correct: torch.Tensor) -> float:
    """AURC from confidences and correctness; see :func:`aurc`.

    Example:
        >>> import torch
        >>> aurc_from_scores(torch.tensor([0.9, 0.6]), torch.tensor([True, False]))
        0.25
    """
    if conf.shape[0] == 0:
        return float("nan")
    sc, order = torch.sort(conf, descending=True, stable=True)
    return aurc_from_sorted(sc, correct[order])


def aurc_from_sorted(sorted_conf: torch.Tensor, sorted_correct: torch.Tensor) -> float:
    """AURC from confidences sorted in *decreasing* order and the matching correctness.

    Example:
        >>> import torch
        >>> aurc_from_sorted(torch.tensor([0.9, 0.6]), torch.tensor([True, False]))
        0.25
    """
    n = sorted_conf.shape[0]
    dev = sorted_conf.device
    err = (~sorted_correct).to(torch.float64)
    _, inverse, counts = torch.unique_consecutive(
        sorted_conf, return_inverse=True, return_counts=True
    )
    g_err = torch.zeros(counts.shape[0], dtype=torch.float64, device=dev)
    g_err.index_add_(0, inverse, err)
    g_start = counts.cumsum(0) - counts  # samples before each tie group
    cum_before = g_err.cumsum(0) - g_err
    pos = torch.arange(1, n + 1, dtype=torch.float64, device=dev)
    # expected errors among the first i samples when ties are ordered at random
    e_i = cum_before[inverse] + (pos - g_start[inverse]) * (g_err / counts)[inverse]
    return float((e_i / pos).mean())


def aurc(probs: Any, labels: Any, *, validate_args: bool = True) -> float:
    """Area under the risk-coverage curve with the max probability as confidence.

    Samples are accepted in decreasing confidence; at coverage ``i/N`` the selective risk is the
    error rate of the ``i`` most confident samples, and ``AURC = (1/N) sum_{i=1..N} risk(i)``
    (Geifman et al. 2019; lower is better; a perfect ranking gives ``~ err + (1-err) log(1-err)``).
    Ties: samples with equal confidence cannot be ordered, so within a tie group the errors are
    spread evenly (the expectation over random orders of the group); the value therefore does not
    depend on the order of the samples.

    Args:
        probs: probabilities of every class (rows on the simplex); for a binary problem also a
            single column, the positive class's probability.
        labels: integer class indices.
        validate_args: check values (NaN/inf, simplex, label range).

    Shape:
        ``probs [N, K]`` (or ``[N]`` / ``[N, 1]`` for binary), ``labels [N]`` -> a float.

    Returns:
        The AURC, in [0, 1].

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> aurc(probs, labels)  # risks 0, 0, 0, 1/4 at coverage 1/4 .. 4/4
        0.0625
    """
    prep = prepare_from_probs(probs, labels, validate_args=validate_args)
    return aurc_from_scores(prep.conf, prep.correct)


def _max_prob(scores: Any, name: str, inputs: Inputs, validate: bool) -> torch.Tensor:
    t = two_columns(to_float(scores, name), inputs)
    if t.ndim != 2:
        raise GencalInputError(f"{name}: expected shape [N, K], got {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise GencalInputError(f"{name}: at least one sample is needed")
    if inputs == "logits":
        if validate:
            dummy = torch.zeros(t.shape[0], dtype=torch.long, device=t.device)
            return prepare_from_logits(t, dummy, validate_args=True).conf
        return torch.softmax(t, dim=1).amax(dim=1)
    if validate:
        check_probs_fast(t, name)
    return t.amax(dim=1)


def ood_scores_of(scores: Any, inputs: Inputs, num_classes: int, validate: bool) -> torch.Tensor:
    """Max-probability of each out-of-distribution sample; its K must be ``num_classes``."""
    s = _max_prob(scores, "ood_scores", inputs, validate)
    k = two_columns(to_float(scores, "ood_scores"), inputs).shape[1]
    if k != num_classes:
        raise GencalInputError(
            f"ood_scores: has {k} classes, the in-distribution scores {num_classes}"
        )
    return s


def ood_auroc_from_scores(id_scores: torch.Tensor, ood_scores: torch.Tensor) -> float:
    """AUROC of separating in-distribution (positive) from OOD scores; ties count one half.

    Example:
        >>> import torch
        >>> ood_auroc_from_scores(torch.tensor([0.9, 0.7]), torch.tensor([0.8]))
        0.5
    """
    n_pos, n_neg = id_scores.shape[0], ood_scores.shape[0]
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    s = torch.cat([id_scores.to(torch.float64), ood_scores.to(torch.float64).to(id_scores.device)])
    sorted_s, order = torch.sort(s)
    _, inverse, counts = torch.unique_consecutive(sorted_s, return_inverse=True, return_counts=True)
    end = counts.cumsum(0).to(torch.float64)
    avg_rank = end - (counts.to(torch.float64) - 1) / 2  # 1-based mid-rank of each tie group
    ranks = torch.empty_like(s)
    ranks[order] = avg_rank[inverse]
    r_pos = float(ranks[:n_pos].sum())
    return (r_pos - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def fpr_from_scores(id_scores: torch.Tensor, ood_scores: torch.Tensor, tpr: float = 0.95) -> float:
    """FPR at the highest threshold whose TPR (in-distribution kept) reaches ``tpr``.

    Example:
        >>> import torch
        >>> fpr_from_scores(torch.tensor([0.9, 0.7]), torch.tensor([0.8, 0.5]))
        0.5
    """
    n_pos = id_scores.shape[0]
    if n_pos == 0 or ood_scores.shape[0] == 0:
        return float("nan")
    if not 0 < tpr <= 1:
        raise GencalInputError(f"tpr: expected a value in (0, 1], got {tpr}")
    k = max(1, math.ceil(round(tpr * n_pos, 9)))  # smallest count with count / n >= tpr
    thr = torch.topk(id_scores.to(torch.float64), k).values[-1]
    return float((ood_scores.to(torch.float64).to(thr.device) >= thr).to(torch.float64).mean())


def _id_ood(id_probs: Any, ood_probs: Any, validate: bool) -> tuple[torch.Tensor, torch.Tensor]:
    a = _max_prob(id_probs, "id_probs", "probs", validate)
    b = _max_prob(ood_probs, "ood_probs", "probs", validate)
    return a, b


def ood_auroc(id_probs: Any, ood_probs: Any, *, validate_args: bool = True) -> float:
    """OOD-detection AUROC with the max probability as score (Hendrycks & Gimpel 2017).

    In-distribution samples are the positive class; AUROC is the probability that a random
    in-distribution sample scores higher than a random OOD one, ties counting 1/2 (the
    Mann-Whitney statistic, equal to ``sklearn.metrics.roc_auc_score``). The two sets may have
    different sizes; ``K`` may differ too (only max-probabilities are compared).

    Args:
        id_probs: probabilities of in-distribution samples.
        ood_probs: probabilities of out-of-distribution samples.
        validate_args: check values (NaN/inf, simplex, label range).

    Shape:
        ``id_probs [N, K]``, ``ood_probs [M, K']`` -> a float.

    Returns:
        The AUROC, in [0, 1].

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> ood = torch.tensor([[0.5, 0.5], [0.6, 0.4]], dtype=torch.float64)
        >>> ood_auroc(probs, ood)  # 7.5 of the 8 pairs ranked right (one tie at 0.6)
        0.9375
    """
    return ood_auroc_from_scores(*_id_ood(id_probs, ood_probs, validate_args))


def fpr_at_95_tpr(
    id_probs: Any, ood_probs: Any, *, tpr: float = 0.95, validate_args: bool = True
) -> float:
    """Fraction of OOD samples accepted when 95% of in-distribution samples are accepted.

    Threshold ``t`` = the ``ceil(0.95 N_id)``-th largest in-distribution max-probability (the
    highest threshold with TPR >= 0.95); FPR = fraction of OOD scores ``>= t``. This is the
    first point of ``sklearn.metrics.roc_curve`` with ``tpr >= 0.95``, without interpolation.

    Args:
        id_probs: probabilities of in-distribution samples.
        ood_probs: probabilities of out-of-distribution samples.
        tpr: the true positive rate to reach.
        validate_args: check values (NaN/inf, simplex, label range).

    Shape:
        ``id_probs [N, K]``, ``ood_probs [M, K']`` -> a float.

    Returns:
        The false positive rate, in [0, 1].

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> ood = torch.tensor([[0.5, 0.5], [0.6, 0.4]], dtype=torch.float64)
        >>> fpr_at_95_tpr(probs, ood)  # threshold 0.6 keeps every ID sample and one OOD sample
        0.5
    """
    return fpr_from_scores(*_id_ood(id_probs, ood_probs, validate_args), tpr)
