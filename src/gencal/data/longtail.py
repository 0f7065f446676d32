"""Long-tailed subsets of a balanced training set (Cao et al. 2019, LDAM-DRW protocol).

Exponential profile, classes ``c = 0 .. K-1``::

    n_c = int(n_max * (1 / IF) ** (c / (K - 1)))      # int() truncates, as in the LDAM code

so CIFAR-10 with ``n_max = 5000`` and ``IF = 100`` keeps
``[5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]`` (12,406 images). Step profile: the first
``K // 2`` classes keep ``n_max``, the others ``int(n_max / IF)``. ``n_max`` defaults to the
smallest class count of the input (= the per-class count of a balanced set). Each class's images
are chosen with ``numpy.random.default_rng(seed)`` (a permutation per class, classes in order);
the kept indices stay in their original order. The test set is not touched: keep it balanced.

Class groups for reporting (Liu et al. 2019 convention): ``many`` if ``n_c > 100``, ``medium`` if
``20 <= n_c <= 100``, ``few`` if ``n_c < 20`` (thresholds configurable).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gencal._checks import GencalInputError
from gencal.data.dataset import ImageDataset

__all__ = ["class_groups", "long_tailed_counts", "long_tailed_indices", "make_long_tailed"]


def long_tailed_counts(
    n_max: int, num_classes: int, imbalance_factor: float, profile: str = "exp"
) -> list[int]:
    """Images per class of a long-tailed profile (see the module docstring for the rounding).

    Args:
        n_max: images of the head class (class 0).
        num_classes: ``K >= 2``.
        imbalance_factor: ``IF >= 1``, the ratio of the head's count to the tail's.
        profile: ``"exp"`` (``n_c = int(n_max * (1 / IF) ** (c / (K - 1)))``) or ``"step"``
            (the first ``K // 2`` classes keep ``n_max``, the others ``int(n_max / IF)``).

    Returns:
        ``K`` counts, head first.

    Raises:
        GencalInputError: ``IF < 1``, ``K < 2`` or an unknown profile.

    Example:
        >>> long_tailed_counts(5000, 10, 100)  # CIFAR-10-LT, IF 100
        [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
        >>> long_tailed_counts(500, 4, 10, profile="step")
        [500, 500, 50, 50]
    """
    if imbalance_factor < 1:
        raise GencalInputError(f"imbalance_factor: must be >= 1, got {imbalance_factor}")
    if num_classes < 2:
        raise GencalInputError(f"num_classes: need at least 2 classes, got {num_classes}")
    ratio = 1.0 / float(imbalance_factor)
    if profile == "exp":
        return [int(n_max * ratio ** (c / (num_classes - 1.0))) for c in range(num_classes)]
    if profile == "step":
        half = num_classes // 2
        return [int(n_max)] * half + [int(n_max * ratio)] * (num_classes - half)
    raise GencalInputError(f"profile: expected 'exp' or 'step', got {profile!r}")


def class_groups(counts, many: int = 100, few: int = 20) -> dict[int, str]:
    """``{class: "many" | "medium" | "few"}``: many if n > ``many``, few if n < ``few``.

    Args:
        counts: training images per class, ``[K]``.
        many: a class with more images than this is ``"many"``.
        few: a class with fewer images than this is ``"few"``; the rest are ``"medium"``.

    Returns:
        The group of each class index.

    Raises:
        GencalInputError: ``few > many``.

    Example:
        >>> class_groups([500, 100, 20, 19])
        {0: 'many', 1: 'medium', 2: 'medium', 3: 'few'}
    """
    if few > many:
        raise GencalInputError(f"thresholds: few ({few}) must not exceed many ({many})")
    out = {}
    for c, n in enumerate(np.asarray(counts).tolist()):
        out[c] = "many" if n > many else ("few" if n < few else "medium")
    return out


def long_tailed_indices(labels: np.ndarray, counts: list[int], seed: int = 0) -> np.ndarray:
    """Sorted indices keeping ``counts[c]`` images of class ``c``, chosen with ``seed``.

    ``numpy.random.default_rng(seed)`` permutes each class's members (classes in order) and the
    first ``counts[c]`` are kept.

    Args:
        labels: integer class indices, ``[N]``.
        counts: images to keep per class (class ``c`` = position ``c``).
        seed: the draw.

    Returns:
        int64 indices into ``labels``, sorted.

    Raises:
        GencalInputError: a class has fewer images than its count.

    Example:
        >>> labels = np.array([0, 1, 0, 1, 0, 2])
        >>> idx = long_tailed_indices(labels, [3, 1, 0], seed=0)
        >>> np.bincount(labels[idx]).tolist(), bool((np.diff(idx) > 0).all())
        ([3, 1], True)
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keep = []
    for c, n_c in enumerate(counts):
        members = np.flatnonzero(labels == c)
        if n_c > len(members):
            raise GencalInputError(
                f"class {c} has {len(members)} images, the profile asks for {n_c}; lower n_max"
            )
        keep.append(rng.permutation(members)[:n_c])
    return np.sort(np.concatenate(keep)).astype(np.int64)


def make_long_tailed(
    dataset: ImageDataset,
    imbalance_factor: float,
    profile: str = "exp",
    seed: int = 0,
    *,
    n_max: int | None = None,
    many_threshold: int = 100,
    few_threshold: int = 20,
) -> ImageDataset:
    """A long-tailed subset of ``dataset`` (a training split) with ``groups`` filled in.

    Class 0 is the head, class ``K-1`` the tail. The normalisation constants are kept (those of
    the full training split). Name: ``"<name>_lt_<profile>_if<IF>"``.

    Args:
        dataset: a training split.
        imbalance_factor: ``IF >= 1`` (:func:`long_tailed_counts`).
        profile: ``"exp"`` or ``"step"``.
        seed: the draw of each class's images.
        n_max: images of the head class (default: the smallest class count of ``dataset``).
        many_threshold: classes with more images are ``"many"`` (:func:`class_groups`).
        few_threshold: classes with fewer images are ``"few"``.

    Returns:
        The subset, an :class:`ImageDataset` in the original order.

    Raises:
        GencalInputError: as :func:`long_tailed_counts`, or ``n_max`` larger than a class.

    Example:
        >>> from gencal.data import load_dataset
        >>> lt = make_long_tailed(load_dataset("digits", split="train"), imbalance_factor=10)
        >>> lt.name, lt.class_counts.tolist()
        ('digits_lt_exp_if10', [130, 100, 77, 60, 46, 36, 28, 21, 16, 13])
        >>> lt.groups[0], lt.groups[1], lt.groups[9]
        ('many', 'medium', 'few')
    """
    k = dataset.num_classes
    n_max = int(dataset.class_counts.min()) if n_max is None else int(n_max)
    counts = long_tailed_counts(n_max, k, imbalance_factor, profile)
    idx = long_tailed_indices(dataset.labels, counts, seed)
    if_str = f"{imbalance_factor:g}"
    out = dataset.subset(idx, name=f"{dataset.name}_lt_{profile}_if{if_str}")
    return dataclasses.replace(
        out, groups=class_groups(counts, many_threshold, few_threshold), class_counts=None
    )


def balanced_subset(dataset: ImageDataset, per_class: int, seed: int = 0) -> ImageDataset:
    """``per_class`` images of every class of ``dataset``, chosen with ``seed``.

    Args:
        dataset: a training split.
        per_class: images kept per class (at most the smallest class's count).
        seed: the draw.

    Returns:
        The subset, named ``"<name>_n<per_class>"``; its normalisation constants are those of
        the full split.

    Example:
        >>> from gencal.data import load_dataset
        >>> sub = balanced_subset(load_dataset("digits", split="train"), 20, seed=0)
        >>> sub.class_counts.tolist() == [20] * 10
        True
    """
    if int(per_class) < 1:
        raise GencalInputError(f"per_class: expected >= 1, got {per_class}")
    counts = [int(per_class)] * dataset.num_classes
    idx = long_tailed_indices(dataset.labels, counts, seed)
    return dataset.subset(idx, name=f"{dataset.name}_n{int(per_class)}")
