"""Functional calibration and accuracy metrics: probabilities in, Python floats out.

Every function takes ``probs [N, K]`` (rows on the simplex; numpy arrays or tensors, float16 /
bfloat16 are computed in float32) and integer ``labels [N]``, validates them (skip with
``validate_args=False``) and returns a ``float``. Common conventions:

- Top-label confidence ``c_i = max_k p_ik``, prediction ``argmax_k p_ik`` (first maximal index on
  ties), ``correct_i = [pred_i == y_i]``.
- Equal-width bins are left-open, right-closed ``(b/n, (b+1)/n]``; ``c = 0`` joins the first bin and
  ``c = 1`` the last (edges ``b/n`` rounded to the input dtype, see :func:`gencal.metrics._inputs.bin_index`).
- Empty bins have weight 0: they add nothing to a sum and are skipped by a max.
- Bin weights are ``|B_b| / N``; per-bin accuracy/confidence are means over the bin's samples.
- Sums are accumulated in float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gencal.metrics import _kernels
from gencal.metrics._inputs import Prepared, prepare_from_probs
from gencal.metrics.binning import (
    Norm,
    bin_edges,
    bin_index,
    calibration_error_from_bins,
    check_n_bins,
    check_norm,
    equal_mass_bin_sums,
    equal_width_bin_sums,
)

__all__ = [
    "accuracy",
    "adaptive_calibration_error",
    "balanced_accuracy",
    "brier_score",
    "classwise_calibration_error",
    "expected_calibration_error",
    "maximum_calibration_error",
    "negative_log_likelihood",
]

NLL_EPS = 1e-12


# --------------------------------------------------------------------------- binned statistics
def _ece(prep: Prepared, n_bins: int, norm: Norm) -> float:
    bins = equal_width_bin_sums(prep.conf, prep.correct, n_bins, prep.edge_dtype)
    return calibration_error_from_bins(*bins, norm=norm)


def _adaece(prep: Prepared, n_bins: int, norm: Norm) -> float:
    sorted_conf, order = torch.sort(prep.conf, stable=True)
    bins = equal_mass_bin_sums(sorted_conf, prep.correct[order], n_bins)
    return calibration_error_from_bins(*bins, norm=norm)


def column_sums64(x: torch.Tensor, block: int = 256, exact_below: int = 1 << 22) -> torch.Tensor:
    """Column sums of ``[N, K]`` in float64. Up to ``exact_below`` entries: a float64 copy.
    Above: no float64 copy of the matrix, float32 sums over blocks of ``block`` rows, then a
    float64 sum of the block sums (faster than ``sum(0)``; relative error ~1e-9)."""
    if x.dtype == torch.float64 or x.numel() <= exact_below:
        return x.to(torch.float64).sum(dim=0)
    n, k = x.shape
    full = (n // block) * block
    out = x[full:].to(torch.float64).sum(dim=0)
    if full:
        out += x[:full].view(-1, block, k).sum(dim=1).to(torch.float64).sum(dim=0)
    return out


def _entries_above(x: torch.Tensor, thr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Column index and value of every entry ``> thr`` of ``x [N, K]`` (row-major order).

    On CPU this goes through numpy, whose comparison and ``flatnonzero`` are several times
    faster than ``torch.gt`` + ``nonzero`` here; both give the same entries in the same order.
    """
    k = x.shape[1]
    if x.device.type == "cpu" and not x.requires_grad:
        xn = x.contiguous().numpy().reshape(-1)
        flat = np.flatnonzero(xn > thr.numpy())
        return torch.from_numpy(flat % k), torch.from_numpy(xn.take(flat))
    rows, cols = (x > thr).nonzero(as_tuple=True)
    return cols, x[rows, cols]


def classwise_bins(
    probs: torch.Tensor,
    labels: torch.Tensor,
    p_true: torch.Tensor,
    n_bins: int,
    edge_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per (class, bin) ``(count, sum of p_k, count of y == k)``, each ``[K, n_bins]`` float64.

    Every entry ``p_ik`` of the matrix is binned by its own value (equal-width, ``(lo, hi]``).
    Only entries above ``1/n_bins`` can leave the first bin and a row holds fewer than
    ``n_bins`` of them, so the matrix is scanned once for those candidates; the first bin gets the
    remainder (column sums minus the candidates). Memory: one bool mask ``[N, K]`` plus the
    candidates, never an int64 index per entry. Large CPU inputs instead take one compiled pass
    (:func:`gencal.metrics._kernels.classwise_sums`) that sums the first bin directly.
    """
    n, k = probs.shape
    if n_bins > 1:  # large CPU inputs: one compiled pass, same bins and sums
        edges = bin_edges(n_bins, edge_dtype or probs.dtype, probs.device)[1:-1].to(probs.dtype)
        fused = _kernels.classwise_sums(probs, labels, edges)
        if fused is not None:
            return fused
    # the first interior edge as compared by bin_index: entries <= it stay in the first bin
    thr = bin_edges(n_bins, edge_dtype or probs.dtype, probs.device)[1].to(probs.dtype)
    cols, vals = _entries_above(probs, thr)
    idx = cols * n_bins + bin_index(vals, n_bins, edge_dtype)
    size = k * n_bins
    vals64 = vals.to(torch.float64)
    count = torch.bincount(idx, minlength=size).to(torch.float64).view(k, n_bins)
    s_p = torch.bincount(idx, weights=vals64, minlength=size).to(torch.float64).view(k, n_bins)
    cand_count = count.sum(dim=1)  # every candidate lands in one bin of its column
    cand_sum = s_p.sum(dim=1)
    col_sum = column_sums64(probs)
    count[:, 0] += n - cand_count
    s_p[:, 0] += (col_sum - cand_sum).clamp_(min=0.0)
    y_idx = labels * n_bins + bin_index(p_true, n_bins, edge_dtype)
    s_y = torch.bincount(y_idx, minlength=size).to(torch.float64).view(k, n_bins)
    return count, s_p, s_y


def classwise_error_of(prep: Prepared, n_bins: int, norm: Norm) -> float:
    """Classwise calibration error of prepared inputs (see :func:`classwise_calibration_error`)."""
    count, s_p, s_y = classwise_bins(prep.probs, prep.labels, prep.p_true, n_bins, prep.edge_dtype)
    return classwise_from_bins(count, s_p, s_y, norm)


def classwise_from_bins(
    count: torch.Tensor, s_p: torch.Tensor, s_y: torch.Tensor, norm: str = "l1"
) -> float:
    """Mean over the K classes (rows) of each class's binned calibration error (norm as in ECE)."""
    k = count.shape[0]
    n = count.sum(dim=1, keepdim=True)  # N for every class
    if k == 0 or float(n.max()) <= 0:
        return 0.0
    diff = (s_y - s_p).abs()
    if norm == "l1":
        return float((diff / n).sum()) / k
    gap = torch.where(count > 0, diff / count.clamp(min=1.0), torch.zeros_like(diff))
    if norm == "l2":
        return float(torch.sqrt((count / n * gap * gap).sum(dim=1)).sum()) / k
    return float(gap.max(dim=1).values.sum()) / k


# --------------------------------------------------------------------------- public API
def expected_calibration_error(
    probs: Any,
    labels: Any,
    n_bins: int = 15,
    norm: Norm = "l1",
    *,
    validate_args: bool = True,
) -> float:
    """Top-label expected calibration error with ``n_bins`` equal-width bins.

    ``ECE = sum_b (|B_b|/N) |acc(B_b) - conf(B_b)|`` where ``acc`` is the fraction of correct
    top-label predictions and ``conf`` the mean top-label confidence of bin b. Bins are
    ``(b/n, (b+1)/n]``, ``c = 0`` in the first and ``c = 1`` in the last; empty bins weigh 0.
    ``norm="l2"``: ``sqrt(sum_b (|B_b|/N) gap_b^2)``; ``norm="max"``: the largest gap over
    non-empty bins (MCE). ``n_bins=15`` is the focal-calibration convention, the paper used 20.

    Args:
        probs: probabilities of every class (rows on the simplex); for a binary problem also a
            single column, the positive class's probability.
        labels: integer class indices.
        n_bins: number of bins.
        norm: ``"l1"``, ``"l2"`` or ``"max"``.
        validate_args: check values (NaN/inf, simplex, label range).

    Shape:
        ``probs [N, K]`` (or ``[N]`` / ``[N, 1]`` for binary), ``labels [N]`` -> a float.

    Returns:
        The calibration error, in [0, 1].

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> round(expected_calibration_error(probs, labels, n_bins=5), 4)  # (0.6 + 2 * 0.25 + 0.1) / 4
        0.3
    """
    check_n_bins(n_bins)
    check_norm(norm)
    return _ece(prepare_from_probs(probs, labels, validate_args=validate_args), n_bins, norm)


def maximum_calibration_error(
    probs: Any, labels: Any, n_bins: int = 15, *, validate_args: bool = True
) -> float:
    """``max_b |acc(B_b) - conf(B_b)|`` over non-empty equal-width bins (ECE with norm="max").

    Args:
        probs: probabilities of every class (rows on the simplex); for a binary problem also a
            single column, the positive class's probability.
        labels: integer class indices.
        n_bins: number of bins.
        validate_args: check values (NaN/inf, simplex, label range).

    Shape:
        ``probs [N, K]`` (or ``[N]`` / ``[N, 1]`` for binary), ``labels [N]`` -> a float.

    Returns:
        The largest bin gap, in [0, 1].

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> round(maximum_calibration_error(probs, labels, n_bins=5), 4)  # the bin (0.4, 0.6]
        0.6
    """
    return expected_calibration_error(probs, labels, n_bins, "max", validate_args=validate_args)


def adaptive_calibration_error(
    probs: Any, labels: Any, n_bins: int = 15, norm: Norm = "l1", *, validate_args: bool = True
) -> float:
    """ECE with equal-mass (adaptive) bins: each bin holds about ``N / n_bins`` samples.

    The confidences are sorted; bin b ends at the confidence of the sample at position
    ``round((b+1) N / n_bins)`` (1-based) and bins are ``(hi_{b-1}, hi_b]``. Ties are never split:
    a tie group that straddles a cut joins the lower bin entirely, so the value does not depend on
    the order of the samples; bins left empty by ties weigh 0. With ``N < n_bins`` several cuts
    coincide and the effective number of bins is at most N. Weights and norms as in
    :func:`expected_calibration_error`.

    Args:
        probs: probabilities of every class (rows on the simplex); for a binary problem also a
            single column, the positive class's probability.
        labels: integer class indices.
        n_bins: number of bins.
        norm: ``"l1"``, ``"l2"`` or ``"max"``.
        validate_args: check values (NaN/inf, simplex, label range).

    Shape:
        ``probs [N, K]`` (or ``[N]`` / ``[N, 1]`` for binary), ``labels [N]`` -> a float.

    Returns:
        The calibration error, in [0, 1].

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> round(adaptive_calibration_error(probs, labels, n_bins=2), 4)  # bins {0.6, 0.7}, {0.8, 0.9}
        0.15
    """
    check_n_bins(n_bins)
    check_norm(norm)
    return _adaece(prepare_from_probs(probs, labels, validate_args=validate_args), n_bins, norm)


def classwise_calibration_error(
    probs: Any, labels: Any, n_bins: int = 15, norm: Norm = "l1", *, validate_args: bool = True
) -> float:
    """Classwise ECE (Kull et al. 2019): mean over all K classes of a per-class binned ECE.

    For class k, every sample's ``p_ik`` (not only the top label) is binned with equal-width
    bins ``(lo, hi]`` and compared with the frequency of ``y_i == k`` in the bin:
    ``cwECE = (1/K) sum_k sum_b (|B_kb|/N) |freq_kb - conf_kb|``. Classes absent from the labels
    still count (their predicted probabilities should then be near 0) and the average is over all
    K columns. ``norm`` applies per class before averaging.

    Args:
        probs: probabilities of every class (rows on the simplex); for a binary problem also a
            single column, the positive class's probability.
        labels: integer class indices.
        n_bins: number of bins.
        norm: ``"l1"``, ``"l2"`` or ``"max"``.
        validate_args: check values (NaN/inf, simplex, label range).

    Shape:
        ``probs [N, K]`` (or ``[N]`` / ``[N, 1]`` for binary), ``labels [N]`` -> a float.

    Returns:
        The mean per-class calibration error, in [0, 1].

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> round(classwise_calibration_error(probs, labels, n_bins=5), 4)
        0.3
    """
    check_n_bins(n_bins)
    check_norm(norm)
    return classwise_error_of(
        prepare_from_probs(probs, labels, validate_args=validate_args), n_bins, norm
    )


def nll_per_sample(prep: Prepared, eps: float = NLL_EPS) -> torch.Tensor:
    """``[N]`` float64 NLL per sample: exact from logits if available, else clamped at eps."""
    if prep.nll is not None:
        return prep.nll
    return -torch.log(prep.p_true.to(torch.float64).clamp(min=eps))


def _nll(prep: Prepared, eps: float) -> float:
    return float(nll_per_sample(prep, eps).mean())


def negative_log_likelihood(
    probs: Any, labels: Any, *, eps: float = NLL_EPS, validate_args: bool = True
) -> float:
    """Mean ``-log max(p_{i,y_i}, eps)`` in nats; ``eps = 1e-12`` caps a zero probability at 27.6.

    (:func:`gencal.metrics.calibration_report` given logits computes the exact log-softmax NLL
    instead, without clamping.)

    Args:
        probs: probabilities of every class (rows on the simplex); for a binary problem also a
            single column, the positive class's probability.
        labels: integer class indices.
        eps: lower clamp of the true-class probability.
        validate_args: check values (NaN/inf, simplex, label range).

    Shape:
        ``probs [N, K]`` (or ``[N]`` / ``[N, 1]`` for binary), ``labels [N]`` -> a float.

    Returns:
        The mean NLL in nats.

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> round(negative_log_likelihood(probs, labels), 4)  # -mean(log [0.9, 0.8, 0.4, 0.7])
        0.4004
    """
    return _nll(prepare_from_probs(probs, labels, validate_args=validate_args), eps)


def brier_per_sample(prep: Prepared) -> torch.Tensor:
    """``[N]`` float64 ``sum_k (p_ik - [y_i == k])^2 = ||p_i||^2 - 2 p_{i,y_i} + 1``."""
    sumsq = torch.linalg.vector_norm(prep.probs, dim=1).to(torch.float64).square()
    return (sumsq - 2.0 * prep.p_true.to(torch.float64) + 1.0).clamp_(min=0.0)


def _brier(prep: Prepared) -> float:
    return float(brier_per_sample(prep).mean())


def brier_score(probs: Any, labels: Any, *, validate_args: bool = True) -> float:
    """Multi-class Brier score ``(1/N) sum_i sum_k (p_ik - [y_i == k])^2`` (range [0, 2]).

    Summed over classes, averaged over samples (the original Brier 1950 definition, as in the
    focal-calibration papers); divide by K for the per-entry mean. Computed as
    ``||p_i||^2 - 2 p_{i,y_i} + 1`` without forming the one-hot matrix.

    Args:
        probs: probabilities of every class (rows on the simplex); for a binary problem also a
            single column, the positive class's probability.
        labels: integer class indices.
        validate_args: check values (NaN/inf, simplex, label range).

    Shape:
        ``probs [N, K]`` (or ``[N]`` / ``[N, 1]`` for binary), ``labels [N]`` -> a float.

    Returns:
        The mean Brier score, in [0, 2].

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> round(brier_score(probs, labels), 4)  # mean of [0.02, 0.08, 0.72, 0.18]
        0.25
    """
    return _brier(prepare_from_probs(probs, labels, validate_args=validate_args))


def accuracy(probs: Any, labels: Any, *, validate_args: bool = True) -> float:
    """Fraction of samples whose argmax (first maximal index on ties) equals the label.

    Args:
        probs: probabilities of every class (rows on the simplex); for a binary problem also a
            single column, the positive class's probability.
        labels: integer class indices.
        validate_args: check values (NaN/inf, simplex, label range).

    Shape:
        ``probs [N, K]`` (or ``[N]`` / ``[N, 1]`` for binary), ``labels [N]`` -> a float.

    Returns:
        The accuracy, in [0, 1].

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> accuracy(probs, labels)
        0.75
    """
    prep = prepare_from_probs(probs, labels, validate_args=validate_args)
    return float(prep.correct.to(torch.float64).mean())


def balanced_accuracy_of(prep: Prepared) -> float:
    """Balanced accuracy of prepared inputs (see :func:`balanced_accuracy`)."""
    k = prep.num_classes
    pairs = torch.bincount(prep.labels * 2 + prep.correct.to(torch.int64), minlength=2 * k)
    pairs = pairs.view(k, 2).to(torch.float64)
    support, hits = pairs.sum(dim=1), pairs[:, 1]
    present = support > 0
    return float((hits[present] / support[present]).mean())


def balanced_accuracy(probs: Any, labels: Any, *, validate_args: bool = True) -> float:
    """Mean per-class recall over the classes present in ``labels`` (as scikit-learn).

    Args:
        probs: probabilities of every class (rows on the simplex); for a binary problem also a
            single column, the positive class's probability.
        labels: integer class indices.
        validate_args: check values (NaN/inf, simplex, label range).

    Shape:
        ``probs [N, K]`` (or ``[N]`` / ``[N, 1]`` for binary), ``labels [N]`` -> a float.

    Returns:
        The balanced accuracy, in [0, 1].

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> round(balanced_accuracy(probs, labels), 4)  # (1/1 + 2/3) / 2
        0.8333
    """
    return balanced_accuracy_of(prepare_from_probs(probs, labels, validate_args=validate_args))
