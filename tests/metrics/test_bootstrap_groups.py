"""bootstrap_ci and per-group metrics."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from gencal import GencalInputError
from gencal.metrics import (
    accuracy,
    adaptive_calibration_error,
    bootstrap_ci,
    brier_score,
    expected_calibration_error,
    groups_from_counts,
    maximum_calibration_error,
    metric_by_group,
    negative_log_likelihood,
)
from tests.metrics.conftest import make_probs, naive_ece, top_label

FAST = [
    accuracy,
    negative_log_likelihood,
    brier_score,
    expected_calibration_error,
    maximum_calibration_error,
]


@pytest.mark.parametrize("fn", FAST)
def test_vectorised_path_equals_generic_path(fn):
    p, y, _ = make_probs(300, 5, seed=80)
    fast = bootstrap_ci(fn, p, y, n_boot=200, seed=3)
    slow = bootstrap_ci(lambda a, b: fn(a, b), p, y, n_boot=200, seed=3)  # a lambda: generic
    assert fast.low == pytest.approx(slow.low, abs=1e-12)
    assert fast.high == pytest.approx(slow.high, abs=1e-12)
    assert fast.std == pytest.approx(slow.std, abs=1e-12)


def test_ci_contains_estimate_is_reproducible_and_matches_a_naive_bootstrap():
    p, y, _ = make_probs(400, 4, seed=81)
    ci = bootstrap_ci(expected_calibration_error, p, y, n_boot=300, alpha=0.1, seed=7)
    conf, pred = top_label(p)
    conf = conf.astype(np.float32)
    correct = pred == y.numpy()
    assert ci.estimate == pytest.approx(naive_ece(conf, correct, 15), abs=1e-9)
    assert ci.low <= ci.estimate <= ci.high
    again = bootstrap_ci(expected_calibration_error, p, y, n_boot=300, alpha=0.1, seed=7)
    assert again == ci
    other = bootstrap_ci(expected_calibration_error, p, y, n_boot=300, alpha=0.1, seed=8)
    assert other.low != ci.low
    # naive: the same index draws, a loop of naive ECEs, numpy percentiles
    g = torch.Generator().manual_seed(7)
    idx = torch.randint(0, 400, (300, 400), generator=g).numpy()
    vals = [naive_ece(conf[r], correct[r], 15) for r in idx]
    lo, hi = np.percentile(vals, [5, 95])
    assert ci.low == pytest.approx(lo, abs=1e-9)
    assert ci.high == pytest.approx(hi, abs=1e-9)


def test_ci_any_metric_with_options():
    p, y, _ = make_probs(200, 3, seed=82)
    fn = functools.partial(adaptive_calibration_error, n_bins=10)
    ci = bootstrap_ci(fn, p, y, n_boot=50, seed=1)
    assert ci.low <= ci.estimate <= ci.high
    assert ci.estimate == adaptive_calibration_error(p, y, n_bins=10)
    assert set(ci.as_dict()) == {"estimate", "low", "high", "std", "n_boot", "alpha"}


def test_ci_bad_arguments():
    p, y, _ = make_probs(20, 3)
    with pytest.raises(GencalInputError, match="n_boot"):
        bootstrap_ci(accuracy, p, y, n_boot=1)
    with pytest.raises(GencalInputError, match="alpha"):
        bootstrap_ci(accuracy, p, y, alpha=1.5)
    with pytest.raises(GencalInputError, match="callable"):
        bootstrap_ci("ece", p, y)


def test_groups_from_counts():
    assert groups_from_counts([5000, 101, 100, 20, 19, 0]) == {
        0: "many",
        1: "many",
        2: "medium",
        3: "medium",
        4: "few",
        5: "few",
    }


def test_metric_by_group_matches_masking_by_hand():
    p, y, _ = make_probs(500, 4, seed=83)
    res = metric_by_group(accuracy, p, y, {0: "many", 1: "many", 2: "few"})
    pred = p.argmax(1).numpy()
    yn = y.numpy()
    for grp, cls in {"many": [0, 1], "few": [2]}.items():
        m = np.isin(yn, cls)
        assert res[grp] == pytest.approx((pred[m] == yn[m]).mean())
    assert set(res) == {"many", "few"}
