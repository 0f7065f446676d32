"""Binning of confidences: the one place that defines the bins every binned metric uses.

Conventions (stated once, used by ECE, MCE, AdaECE, classwise ECE, reliability diagrams, the
stateful metrics and the bootstrap):

- **Equal-width bins** (ECE, MCE, classwise ECE, reliability diagrams): ``n`` bins with edges
  ``e_b = b / n``, each edge rounded to the dtype of the scores (as ``torch.linspace`` gives
  them). Bin ``b`` (0-based) holds ``e_b < c <= e_{b+1}``: left-open, right-closed ``(lo, hi]``;
  ``c = 0`` goes to the first bin. A value equal to an edge belongs to the lower bin.
- **Equal-mass bins** (AdaECE): the ascending-sorted confidences are cut at positions
  ``round((b+1) N / n)``; bin ``b`` is ``(hi_{b-1}, hi_b]`` with ``hi_b`` the confidence at the
  cut, so equal confidences are never split (a tie group at a cut joins the lower bin) and bins
  left empty by ties weigh 0.
- **Calibration error from bins** (``n_b`` samples in bin b, ``N = sum_b n_b``,
  ``gap_b = |acc_b - conf_b|``): ``l1 = sum_b (n_b/N) gap_b`` (ECE), ``l2 = sqrt(sum_b (n_b/N)
  gap_b^2)``, ``max = max_{b: n_b > 0} gap_b`` (MCE). Empty bins weigh 0; sums are float64.

Large CPU inputs are summed by a compiled loop (numba, optional; :mod:`gencal.metrics._kernels`)
with the same bins; the tests compare it with the torch path here.

Example:
    >>> import torch
    >>> conf = torch.tensor([0.0, 0.2, 0.21, 0.6, 1.0])
    >>> bin_index(conf, 5).tolist()  # 0 joins the first bin, 0.2 ends it
    [0, 0, 1, 2, 4]
"""

from __future__ import annotations

from typing import Literal

import torch

from gencal._checks import GencalInputError
from gencal.metrics import _kernels

__all__ = [
    "Norm",
    "bin_edges",
    "bin_index",
    "calibration_error_from_bins",
    "check_n_bins",
    "check_norm",
    "equal_mass_bin_sums",
    "equal_mass_edges",
    "equal_width_bin_sums",
]

Norm = Literal["l1", "l2", "max"]


def check_n_bins(n_bins: int) -> int:
    """Return ``n_bins`` if it is a positive integer, else raise ``GencalInputError``.

    Example:
        >>> check_n_bins(15)
        15
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise GencalInputError(f"n_bins: expected a positive integer, got {n_bins!r}")
    return n_bins


def check_norm(norm: str) -> str:
    """Return ``norm`` if it is ``"l1"``, ``"l2"`` or ``"max"``, else raise ``GencalInputError``.

    Example:
        >>> check_norm("l1")
        'l1'
    """
    if norm not in ("l1", "l2", "max"):
        raise GencalInputError(f"norm: expected 'l1', 'l2' or 'max', got {norm!r}")
    return norm


def bin_edges(
    n_bins: int, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> torch.Tensor:
    """Equal-width edges ``e_b = b / n`` for ``b = 0..n``, each rounded to ``dtype``.

    Args:
        n_bins: number of bins ``n``.
        dtype: dtype the edges are rounded to (that of the scores being binned).
        device: device of the result.

    Shape:
        ``[n_bins + 1]``.

    Returns:
        The edges, ``0`` first and ``1`` last.

    Example:
        >>> bin_edges(4).tolist()
        [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    return (torch.arange(n_bins + 1, dtype=torch.float64, device=device) / n_bins).to(dtype)


def bin_index(
    conf: torch.Tensor, n_bins: int, edge_dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Equal-width bin of each value: bin ``b`` holds ``e_b < c <= e_{b+1}`` (0 in bin 0).

    Args:
        conf: values in [0, 1] (confidences or probabilities).
        n_bins: number of bins.
        edge_dtype: dtype the edges are rounded to (default ``conf.dtype``; e.g. float16 for
            float16 scores computed in float32), so that float32 ``0.2`` is in ``(0, 0.2]``.

    Shape:
        ``conf [N]`` -> ``[N]`` int64 in ``0..n_bins-1``.

    Returns:
        The bin index of every value.

    Example:
        >>> import torch
        >>> bin_index(torch.tensor([0.0, 0.5, 0.51, 1.0]), 2).tolist()
        [0, 0, 1, 1]
    """
    edges = bin_edges(n_bins, edge_dtype or conf.dtype, conf.device)[1:-1].to(conf.dtype)
    return torch.bucketize(conf, edges, right=False)


def equal_width_bin_sums(
    conf: torch.Tensor,
    correct: torch.Tensor,
    n_bins: int,
    edge_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per equal-width bin: the count, the sum of confidences and the number correct.

    Args:
        conf: top-label confidences in [0, 1].
        correct: whether each top-label prediction is right (bool).
        n_bins: number of bins.
        edge_dtype: see :func:`bin_index`.

    Shape:
        ``conf [N]``, ``correct [N]`` -> three ``[n_bins]`` float64 tensors.

    Returns:
        ``(count, sum_conf, sum_correct)``.

    Example:
        >>> import torch
        >>> count, s_conf, s_acc = equal_width_bin_sums(
        ...     torch.tensor([0.3, 0.9, 0.8]), torch.tensor([False, True, True]), 2)
        >>> count.tolist(), s_acc.tolist()
        ([1.0, 2.0], [0.0, 2.0])
    """
    edges = bin_edges(n_bins, edge_dtype or conf.dtype, conf.device)[1:-1].to(conf.dtype)
    fused = _kernels.bin_sums(conf, correct, edges)
    if fused is not None:
        return fused
    b = torch.bucketize(conf, edges, right=False)
    # one integer bincount of (bin, correct) pairs gives both the counts and the hits
    pairs = torch.bincount(b * 2 + correct.to(torch.int64), minlength=2 * n_bins).view(n_bins, 2)
    count = pairs.sum(dim=1).to(torch.float64)
    s_acc = pairs[:, 1].to(torch.float64)
    s_conf = torch.bincount(b, weights=conf.to(torch.float64), minlength=n_bins)
    return count, s_conf, s_acc


def equal_mass_edges(sorted_conf: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Upper edges ``hi_0 <= ... <= hi_{n-2}`` of equal-mass bins (the last bin is unbounded).

    Args:
        sorted_conf: confidences sorted in ascending order.
        n_bins: number of bins ``n``.

    Shape:
        ``[N]`` -> ``[n_bins - 1]``.

    Returns:
        ``hi_b``, the confidence of the last sample of the b-th chunk when the sorted
        confidences are cut at positions ``round((b+1) N / n)``.

    Example:
        >>> import torch
        >>> equal_mass_edges(torch.tensor([0.1, 0.2, 0.3, 0.4]), 2).tolist()
        [0.20000000298023224]
    """
    n = sorted_conf.shape[0]
    cuts = torch.round(torch.arange(1, n_bins, dtype=torch.float64) * n / n_bins).to(torch.int64)
    cuts = cuts.clamp_(1, max(n, 1)) - 1
    return sorted_conf[cuts.to(sorted_conf.device)]


def equal_mass_bin_sums(
    sorted_conf: torch.Tensor, sorted_correct: torch.Tensor, n_bins: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per equal-mass bin: the count, the sum of confidences and the number correct.

    Args:
        sorted_conf: confidences sorted in ascending order.
        sorted_correct: correctness in the same order.
        n_bins: number of bins.

    Shape:
        ``[N]``, ``[N]`` -> three ``[n_bins]`` float64 tensors.

    Returns:
        ``(count, sum_conf, sum_correct)`` of the bins ``(hi_{b-1}, hi_b]``.

    Example:
        >>> import torch
        >>> count, _, s_acc = equal_mass_bin_sums(
        ...     torch.tensor([0.1, 0.2, 0.2, 0.4]), torch.tensor([False, True, True, True]), 2)
        >>> count.tolist(), s_acc.tolist()  # the tie at the cut stays together
        ([3.0, 1.0], [2.0, 1.0])
    """
    n = sorted_conf.shape[0]
    dev = sorted_conf.device
    edges = equal_mass_edges(sorted_conf, n_bins)
    # bins are contiguous runs of the sorted samples: bin b = positions [start_b, end_b) with
    # end_b = #{c <= hi_b}, i.e. hi_{b-1} < c <= hi_b; sums are differences of prefix sums
    ends = torch.searchsorted(sorted_conf, edges, right=True)
    ends = torch.cat([ends, torch.tensor([n], device=dev)])
    starts = torch.cat([torch.zeros(1, dtype=ends.dtype, device=dev), ends[:-1]])
    c_conf = torch.cat(
        [torch.zeros(1, dtype=torch.float64, device=dev), sorted_conf.double().cumsum(0)]
    )
    c_acc = torch.cat(
        [torch.zeros(1, dtype=torch.int64, device=dev), sorted_correct.long().cumsum(0)]
    )
    count = (ends - starts).to(torch.float64)
    s_conf = c_conf[ends] - c_conf[starts]
    s_acc = (c_acc[ends] - c_acc[starts]).to(torch.float64)
    return count, s_conf, s_acc


def calibration_error_from_bins(
    count: torch.Tensor, sum_conf: torch.Tensor, sum_correct: torch.Tensor, norm: Norm = "l1"
) -> float:
    """Calibration error from per-bin sums (any binning; the norms of the module docstring).

    Args:
        count: samples per bin.
        sum_conf: sum of the confidences per bin.
        sum_correct: number of correct predictions per bin.
        norm: ``"l1"`` (ECE), ``"l2"`` or ``"max"`` (MCE).

    Shape:
        three ``[n_bins]`` tensors -> a float.

    Returns:
        The calibration error (0 when there is no sample).

    Example:
        >>> import torch
        >>> ece = calibration_error_from_bins(
        ...     torch.tensor([1.0, 3.0]), torch.tensor([0.3, 2.7]), torch.tensor([0.0, 3.0]))
        >>> round(ece, 4)  # (|0 - 0.3| + |3 - 2.7|) / 4
        0.15
    """
    total = float(count.sum())
    if total <= 0:
        return 0.0
    nonempty = count > 0
    diff = (sum_correct - sum_conf).abs()
    if norm == "l1":
        return float(diff.sum()) / total
    gap = diff[nonempty] / count[nonempty]
    if norm == "l2":
        return float(torch.sqrt((count[nonempty] / total * gap * gap).sum()))
    return float(gap.max()) if gap.numel() else 0.0
