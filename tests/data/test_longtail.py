"""Long-tailed subsets: counts, determinism, groups; balanced test set."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from gencal import GencalInputError
from gencal.data import ImageDataset, make_long_tailed, stratified_split
from gencal.data.longtail import class_groups, long_tailed_counts


def balanced(n_per_class: int, k: int) -> ImageDataset:
    labels = np.repeat(np.arange(k), n_per_class)
    imgs = (np.arange(len(labels)) % 251).astype(np.uint8).reshape(-1, 1, 1, 1)
    return ImageDataset(imgs, labels, [f"c{i}" for i in range(k)], (0.5,), (0.3,), "toy")


def test_cifar10_lt_published_counts():
    # LDAM-DRW / MiSLAS CIFAR-10-LT, imbalance 100: 12,406 training images.
    counts = long_tailed_counts(5000, 10, 100, "exp")
    assert counts == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert sum(counts) == 12406
    # CIFAR-100-LT with imbalance 100 has 10,847 images.
    assert sum(long_tailed_counts(500, 100, 100, "exp")) == 10847


@pytest.mark.parametrize(
    "imb,k,n", [(100, 10, 5000), (50, 10, 5000), (10, 100, 500), (200, 7, 300)]
)
def test_exp_formula(imb, k, n):
    counts = long_tailed_counts(n, k, imb, "exp")
    ref = [math.floor(n * math.pow(1 / imb, c / (k - 1))) for c in range(k)]
    assert counts == ref
    assert counts[0] == n and all(a >= b for a, b in itertools.pairwise(counts))


def test_step_profile():
    assert long_tailed_counts(5000, 10, 100, "step") == [5000] * 5 + [50] * 5
    assert long_tailed_counts(100, 5, 10, "step") == [100, 100, 10, 10, 10]
    with pytest.raises(GencalInputError, match="profile"):
        long_tailed_counts(10, 3, 2, "linear")


def test_make_long_tailed_subset_and_groups():
    ds = balanced(500, 10)
    lt = make_long_tailed(ds, 100, "exp", seed=0)
    expected = long_tailed_counts(500, 10, 100)
    assert lt.class_counts.tolist() == expected == [500, 299, 179, 107, 64, 38, 23, 13, 8, 5]
    assert lt.groups == {0: "many", 1: "many", 2: "many", 3: "many", 4: "medium", 5: "medium",
                         6: "medium", 7: "few", 8: "few", 9: "few"}  # fmt: skip
    assert lt.mean == ds.mean and lt.name == "toy_lt_exp_if100"
    # Same seed, same subset; another seed, another subset; images follow their labels.
    again = make_long_tailed(ds, 100, "exp", seed=0)
    other = make_long_tailed(ds, 100, "exp", seed=1)
    assert np.array_equal(lt.images, again.images) and np.array_equal(lt.labels, again.labels)
    assert not np.array_equal(lt.images, other.images)
    orig_index = np.array(
        [int(np.flatnonzero(ds.images[:, 0, 0, 0] == v)[0]) for v in lt.images[:40, 0, 0, 0]]
    )
    assert np.array_equal(ds.labels[orig_index], lt.labels[:40])


def test_groups_thresholds():
    assert class_groups([101, 100, 20, 19]) == {0: "many", 1: "medium", 2: "medium", 3: "few"}
    assert class_groups([50, 5], many=40, few=6) == {0: "many", 1: "few"}


def test_too_few_images():
    with pytest.raises(GencalInputError, match="lower n_max"):
        make_long_tailed(balanced(10, 3), 2, n_max=20)


def test_cal_split_from_long_tailed_train():
    lt = make_long_tailed(balanced(500, 10), 100, seed=0)
    _, cal = stratified_split(lt.labels, 0.1, seed=0)
    assert np.bincount(lt.labels[cal], minlength=10).tolist() == [
        int(np.floor(0.1 * n + 0.5)) for n in lt.class_counts
    ]
    _, cal_b = stratified_split(lt.labels, 0.1, seed=0, balanced=True)
    assert len(set(np.bincount(lt.labels[cal_b], minlength=10).tolist())) == 1
