"""The in-memory image dataset returned by every loader."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from gencal._checks import GencalInputError

__all__ = ["ImageDataset", "channel_stats"]


def channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and (population) std of uint8 ``images [N, H, W, C]`` in [0, 1] units.

    Uses a 256-bin histogram per channel, so it needs no float copy of the data. A channel
    with no pixels, or a constant one, gets std 1 (so that dividing by it is harmless).

    Args:
        images: uint8 images.

    Shape:
        ``images``: ``[N, H, W, C]``; ``mean`` and ``std`` have ``C`` values.

    Returns:
        ``(mean, std)``, tuples of floats.

    Raises:
        GencalInputError: ``images`` is not uint8 with 4 dimensions.

    Example:
        >>> images = np.zeros((2, 1, 1, 2), dtype=np.uint8)
        >>> images[1, ..., 0] = 255  # channel 0: 0 and 255; channel 1: constant 0
        >>> channel_stats(images)
        ((0.5, 0.0), (0.5, 1.0))
    """
    if images.dtype != np.uint8 or images.ndim != 4:
        raise GencalInputError(
            f"images: expected uint8 [N, H, W, C], got {images.dtype} {images.shape}"
        )
    values = np.arange(256, dtype=np.float64) / 255.0
    means, stds = [], []
    for c in range(images.shape[3]):
        hist = np.bincount(images[..., c].reshape(-1), minlength=256).astype(np.float64)
        total = hist.sum()
        if total == 0:
            means.append(0.0)
            stds.append(1.0)
            continue
        m = float((hist * values).sum() / total)
        var = float((hist * (values - m) ** 2).sum() / total)
        means.append(m)
        stds.append(max(var, 0.0) ** 0.5 or 1.0)
    return tuple(means), tuple(stds)


@dataclass
class ImageDataset:
    """Images, labels and metadata of one split of a dataset, all in memory.

    Attributes:
        images: ``uint8 [N, H, W, C]`` (``C = 1`` for grayscale).
        labels: ``int64 [N]`` class indices in ``[0, len(class_names))``.
        class_names: names of the classes, index = label.
        mean, std: per-channel normalisation constants in [0, 1] units (from the training split).
        name: dataset name as passed to :func:`gencal.data.load_dataset` (plus a suffix for
            derived datasets such as long-tailed subsets).
        split: ``"train"``, ``"val"``, ``"test"`` (or ``"all"``).
        groups: optional ``{class index: "many" | "medium" | "few"}`` (long-tailed data).
        class_counts: ``int64 [K]`` images per class in this split (filled in automatically).

    Properties: ``num_classes`` (``K``), ``num_channels`` (``C``), ``image_size`` (``(H, W)``).

    Raises:
        GencalInputError: images not uint8 ``[N, H, W, C]``, labels not integers ``[N]`` in
            ``[0, K)``, or ``mean``/``std`` not ``C`` values (``std`` positive).

    Example:
        >>> ds = ImageDataset(
        ...     images=np.zeros((5, 8, 8, 1), dtype=np.uint8),
        ...     labels=[0, 1, 1, 2, 2],
        ...     class_names=["a", "b", "c"],
        ...     mean=(0.5,),
        ...     std=(0.25,),
        ...     name="toy",
        ... )
        >>> ds
        ImageDataset(name='toy', split='train', n=5, shape=(8, 8, 1), classes=3)
        >>> ds.class_counts.tolist(), ds.num_channels, ds.image_size
        ([1, 2, 2], 1, (8, 8))
        >>> ds.subset([3, 4], name="toy_c").class_counts.tolist()
        [0, 0, 2]
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    name: str
    split: str = "train"
    groups: dict[int, str] | None = None
    class_counts: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        if not isinstance(self.images, np.ndarray) or self.images.dtype != np.uint8:
            raise GencalInputError(
                f"images: expected a uint8 numpy array, got {getattr(self.images, 'dtype', type(self.images))}"
            )
        if self.images.ndim != 4:
            raise GencalInputError(f"images: expected shape [N, H, W, C], got {self.images.shape}")
        self.labels = np.asarray(self.labels)
        if self.labels.dtype.kind not in "iu" or self.labels.ndim != 1:
            raise GencalInputError(
                f"labels: expected integer [N], got {self.labels.dtype} {self.labels.shape}"
            )
        self.labels = self.labels.astype(np.int64, copy=False)
        if len(self.labels) != len(self.images):
            raise GencalInputError(
                f"labels: length {len(self.labels)} does not match {len(self.images)} images"
            )
        self.class_names = [str(c) for c in self.class_names]
        k = len(self.class_names)
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= k):
            raise GencalInputError(
                f"labels: values must lie in [0, {k}) for {k} class names, got "
                f"[{self.labels.min()}, {self.labels.max()}]"
            )
        c = self.images.shape[3]
        self.mean = tuple(float(v) for v in self.mean)
        self.std = tuple(float(v) for v in self.std)
        if len(self.mean) != c or len(self.std) != c:
            raise GencalInputError(
                f"mean/std: expected {c} values (one per channel), got {len(self.mean)}/{len(self.std)}"
            )
        if any(s <= 0 for s in self.std):
            raise GencalInputError(f"std: values must be positive, got {self.std}")
        self.class_counts = np.bincount(self.labels, minlength=k).astype(np.int64)

    @property
    def num_classes(self) -> int:
        """``K``, the number of classes."""
        return len(self.class_names)

    @property
    def num_channels(self) -> int:
        """``C``, the number of channels."""
        return int(self.images.shape[3])

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.images.shape[1]), int(self.images.shape[2])

    def __len__(self) -> int:
        return len(self.labels)

    def subset(
        self, indices: Sequence[int] | np.ndarray, *, name: str | None = None
    ) -> ImageDataset:
        """A new dataset with the rows ``indices`` (same classes, normalisation and groups)."""
        idx = np.asarray(indices, dtype=np.int64)
        return dataclasses.replace(
            self,
            images=self.images[idx],
            labels=self.labels[idx],
            name=self.name if name is None else name,
            class_counts=None,
        )

    def with_groups(self, groups: dict[int, str] | None) -> ImageDataset:
        """The same dataset with class groups attached (e.g. the test split of a long-tailed run)."""
        return dataclasses.replace(self, groups=None if groups is None else dict(groups))

    def __repr__(self) -> str:
        return (
            f"ImageDataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"shape={tuple(self.images.shape[1:])}, classes={self.num_classes})"
        )


def add_split_arrays(arrays: dict[str, np.ndarray], split: str, images, labels) -> None:
    """Store one split (images, labels, per-channel mean/std) under ``<split>_*`` keys.

    The layout that :func:`dataset_from_arrays` and the array cache expect.

    Args:
        arrays: updated in place.
        split: the split's name.
        images: uint8 ``[N, H, W, C]``.
        labels: integer ``[N]``.

    Example:
        >>> arrays = {}
        >>> add_split_arrays(arrays, "train", np.zeros((3, 2, 2, 1), np.uint8), [0, 1, 1])
        >>> sorted(arrays), arrays["train_labels"].dtype
        (['train_images', 'train_labels', 'train_mean', 'train_std'], dtype('int64'))
    """
    mean, std = channel_stats(images)
    arrays[f"{split}_images"] = images
    arrays[f"{split}_labels"] = np.asarray(labels, dtype=np.int64)
    arrays[f"{split}_mean"] = np.array(mean)
    arrays[f"{split}_std"] = np.array(std)


def dataset_from_arrays(
    arrays: dict[str, np.ndarray], split: str, class_names: Sequence[str], name: str
) -> ImageDataset:
    """Build the :class:`ImageDataset` of ``split`` (normalised with the train split's stats).

    Args:
        arrays: the ``<split>_images / _labels / _mean / _std`` arrays of
            :func:`add_split_arrays`; without ``train_mean`` the split's own stats are used.
        split: the split to build.
        class_names: names of the classes, index = label.
        name: the dataset's name.

    Returns:
        The :class:`ImageDataset`.

    Example:
        >>> arrays = {}
        >>> add_split_arrays(arrays, "train", np.full((2, 1, 1, 1), 255, np.uint8), [0, 1])
        >>> add_split_arrays(arrays, "test", np.zeros((1, 1, 1, 1), np.uint8), [1])
        >>> test = dataset_from_arrays(arrays, "test", ["a", "b"], "toy")
        >>> len(test), test.mean  # the training split's mean
        (1, (1.0,))
    """
    stats = "train" if "train_mean" in arrays else split
    return ImageDataset(
        images=arrays[f"{split}_images"],
        labels=arrays[f"{split}_labels"],
        class_names=list(class_names),
        mean=tuple(arrays[f"{stats}_mean"]),
        std=tuple(arrays[f"{stats}_std"]),
        name=name,
        split=split,
    )


def only_split(split: str):
    """A ``select`` predicate for :func:`gencal.data.cache.cached_arrays`: one split's arrays + stats.

    Args:
        split: the split whose images and labels are kept.

    Returns:
        ``keep(array name) -> bool``: true for ``<split>_images``, ``<split>_labels`` and every
        name that is not images or labels (per-split stats, class names).

    Example:
        >>> keep = only_split("test")
        >>> [k for k in ["train_images", "train_mean", "test_images", "class_names"] if keep(k)]
        ['train_mean', 'test_images', 'class_names']
    """
    return lambda k: not k.endswith(("_images", "_labels")) or k.startswith(f"{split}_")
