"""Seeded, stratified train / calibration splits."""

from __future__ import annotations

import numpy as np

from gencal._checks import GencalInputError

__all__ = ["stratified_split"]


def stratified_split(
    labels: np.ndarray,
    fraction: float,
    seed: int = 0,
    *,
    balanced: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into ``(train_idx, cal_idx)``, stratified by class, reproducible from ``seed``.

    Default (proportional): class ``c`` with ``n_c`` images gives ``floor(fraction * n_c + 0.5)``
    of them to the calibration split, capped at ``n_c - 1`` so that every class keeps at least one
    training image. For long-tailed training data this keeps the long-tailed proportions.

    ``balanced=True``: every class gives the same number ``m = floor(fraction * N / K + 0.5)``,
    capped at ``floor(n_min / 2)`` (``n_min`` the smallest class), so that the calibration split is
    class-balanced and every class keeps at least half its images.

    The images of each class are permuted with ``numpy.random.default_rng(seed)`` (classes in
    increasing order) and the first ones go to calibration. Both index arrays are sorted.

    Args:
        labels: integer class indices.
        fraction: share given to calibration, in ``(0, 1)``.
        seed: the draw.
        balanced: the same number of calibration images in every class.

    Shape:
        ``labels``: ``[N]``; the two int64 index arrays partition ``range(N)``.

    Returns:
        ``(train_idx, cal_idx)``.

    Raises:
        GencalInputError: labels not integer ``[N]``, or ``fraction`` outside ``(0, 1)``.

    Example:
        >>> labels = np.repeat([0, 1, 2], [10, 4, 2])
        >>> train_idx, cal_idx = stratified_split(labels, 0.25, seed=0)
        >>> np.bincount(labels[cal_idx]).tolist(), len(train_idx)
        ([3, 1, 1], 11)
        >>> _, cal_idx = stratified_split(labels, 0.25, seed=0, balanced=True)
        >>> np.bincount(labels[cal_idx]).tolist()
        [1, 1, 1]
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise GencalInputError(
            f"labels: expected integer class indices [N], got {labels.dtype} {labels.shape}"
        )
    if not 0.0 < float(fraction) < 1.0:
        raise GencalInputError(f"fraction: must lie in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(np.searchsorted(classes, labels), minlength=len(classes))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    if balanced:
        m = int(np.floor(fraction * len(labels) / len(classes) + 0.5))
        m = min(m, int(counts.min()) // 2)
        n_cal = np.full(len(classes), m, dtype=np.int64)
    else:
        n_cal = np.floor(fraction * counts + 0.5).astype(np.int64)
        n_cal = np.minimum(n_cal, np.maximum(counts - 1, 0))
    cal_parts = []
    for start, n_c, k in zip(starts, counts, n_cal):
        members = order[start : start + n_c]
        cal_parts.append(rng.permutation(members)[:k])
    cal = np.sort(np.concatenate(cal_parts)) if cal_parts else np.empty(0, np.int64)
    mask = np.ones(len(labels), dtype=bool)
    mask[cal] = False
    return np.flatnonzero(mask).astype(np.int64), cal.astype(np.int64)
