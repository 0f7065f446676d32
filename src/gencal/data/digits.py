"""scikit-learn's ``load_digits`` (1,797 8x8 grayscale digits; ships with scikit-learn).

Pixels are 0..16 in scikit-learn; they are scaled to uint8 with ``round(v * 255 / 16)`` (16 -> 255).
There is no official split: ``train``/``test`` are a fixed stratified split with seed 0 and
``test_fraction=0.25`` (:func:`gencal.data.stratified_split`), i.e. 1,346 / 451 images. The
normalisation constants are those of the training part.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gencal._checks import GencalInputError
from gencal.data.dataset import ImageDataset, channel_stats
from gencal.data.registry import register_dataset
from gencal.data.splits import stratified_split

__all__ = ["load_digits_dataset"]

DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.25


@register_dataset("digits")
def load_digits_dataset(
    root: Path | None = None,
    split: str = "train",
    *,
    download: bool = False,
    cache_dir: Path | None = None,
    seed: int = DIGITS_SPLIT_SEED,
    test_fraction: float = DIGITS_TEST_FRACTION,
) -> ImageDataset:
    """Load one split of scikit-learn's digits (``load_dataset("digits")``).

    Nothing is downloaded or cached: the data ships with scikit-learn.

    Args:
        root: unused (accepted like every loader's).
        split: ``"train"`` or ``"test"``.
        download: unused.
        cache_dir: unused.
        seed: seed of the stratified split.
        test_fraction: share of each class given to ``test``.

    Returns:
        The :class:`ImageDataset`: uint8 ``[N, 8, 8, 1]``, 10 classes ``"0"`` .. ``"9"``,
        normalised with the training part's mean and std.

    Raises:
        GencalInputError: ``split`` is not ``"train"`` or ``"test"``.

    Example:
        >>> train, test = load_digits_dataset(split="train"), load_digits_dataset(split="test")
        >>> train
        ImageDataset(name='digits', split='train', n=1346, shape=(8, 8, 1), classes=10)
        >>> len(test), int(test.images.max()), test.mean == train.mean
        (451, 255, True)
    """
    from sklearn.datasets import load_digits

    if split not in ("train", "test"):
        raise GencalInputError(f"digits: split must be 'train' or 'test', got {split!r}")
    d = load_digits()
    images = np.rint(d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[..., None]
    labels = d.target.astype(np.int64)
    train_idx, test_idx = stratified_split(labels, test_fraction, seed=seed)
    mean, std = channel_stats(images[train_idx])
    idx = train_idx if split == "train" else test_idx
    return ImageDataset(
        images=images[idx],
        labels=labels[idx],
        class_names=[str(i) for i in range(10)],
        mean=mean,
        std=std,
        name="digits",
        split=split,
    )
