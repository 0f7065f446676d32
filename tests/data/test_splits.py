"""stratified_split against counts computed independently."""

from __future__ import annotations

import numpy as np
import pytest

from gencal import GencalInputError
from gencal.data import stratified_split


def test_proportional_split(rng):
    labels = np.repeat(np.arange(5), [100, 50, 20, 7, 1])
    rng.shuffle(labels)
    tr, cal = stratified_split(labels, 0.1, seed=3)
    assert len(np.intersect1d(tr, cal)) == 0 and len(tr) + len(cal) == len(labels)
    assert np.all(np.diff(tr) > 0) and np.all(np.diff(cal) > 0)
    counts = np.bincount(labels[cal], minlength=5)
    expected = [min(int(np.floor(0.1 * n + 0.5)), n - 1) for n in [100, 50, 20, 7, 1]]
    assert counts.tolist() == expected  # [10, 5, 2, 1, 0]
    assert tr.dtype == np.int64 and cal.dtype == np.int64


def test_seed_determinism(rng):
    labels = rng.integers(0, 10, 1000)
    a = stratified_split(labels, 0.2, seed=1)
    b = stratified_split(labels, 0.2, seed=1)
    c = stratified_split(labels, 0.2, seed=2)
    assert np.array_equal(a[1], b[1]) and not np.array_equal(a[1], c[1])


def test_balanced_split():
    labels = np.repeat(np.arange(4), [500, 200, 60, 30])
    _tr, cal = stratified_split(labels, 0.1, seed=0, balanced=True)
    counts = np.bincount(labels[cal], minlength=4)
    # m = round(0.1 * 790 / 4) = 20, cap floor(30 / 2) = 15
    assert counts.tolist() == [15, 15, 15, 15]
    _tr2, cal2 = stratified_split(labels, 0.02, seed=0, balanced=True)
    assert np.bincount(labels[cal2], minlength=4).tolist() == [4, 4, 4, 4]


def test_bad_input():
    with pytest.raises(GencalInputError, match="fraction"):
        stratified_split(np.zeros(10, int), 1.5)
    with pytest.raises(GencalInputError, match="labels"):
        stratified_split(np.zeros(10), 0.5)
