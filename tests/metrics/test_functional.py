"""Functional metrics against independent references (naive loops, sklearn, torchmetrics)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score, log_loss
from torchmetrics.functional.classification import multiclass_calibration_error

from gencal import GencalInputError
from gencal.metrics import (
    accuracy,
    balanced_accuracy,
    brier_score,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
)
from tests.metrics.conftest import make_probs, naive_ece, top_label


@pytest.mark.parametrize("n_bins", [1, 10, 15, 20])
@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_ece_matches_naive_loop(n_bins, norm):
    p, y, _ = make_probs(400, 5, seed=n_bins)
    conf, pred = top_label(p)
    ref = naive_ece(conf.astype(np.float32), pred == y.numpy(), n_bins, norm)
    assert expected_calibration_error(p, y, n_bins, norm) == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_ece_matches_torchmetrics(norm):
    # torchmetrics bins are [lo, hi) and 1.0 gets its own bin: random confidences avoid edges.
    p, y, _ = make_probs(3000, 10, seed=3)
    ref = multiclass_calibration_error(p, y, num_classes=10, n_bins=15, norm=norm)
    assert expected_calibration_error(p, y, 15, norm) == pytest.approx(float(ref), abs=1e-6)


def test_ece_edges_zero_and_one_and_empty_bins():
    # two classes: confidences exactly on edges 0.6 (= 9/15), 1.0, and 0.5; bins mostly empty
    p = torch.tensor(
        [[1.0, 0.0], [0.0, 1.0], [0.6, 0.4], [0.5, 0.5], [0.2, 0.8]], dtype=torch.float64
    )
    y = torch.tensor([0, 0, 0, 1, 1])
    conf, pred = top_label(p)
    for nb in (5, 15):
        ref = naive_ece(conf, pred == y.numpy(), nb)
        assert expected_calibration_error(p, y, nb) == pytest.approx(ref, abs=1e-12)
    # 5 bins: (0.4,0.6] holds {0.6 correct, 0.5 wrong (argmax 0 on the tie)}, (0.6,0.8] holds
    # {0.8 correct}, (0.8,1] holds {1.0 correct, 1.0 wrong}; the other bins are empty
    ece5 = (2 / 5) * abs(0.5 - 0.55) + (1 / 5) * abs(1 - 0.8) + (2 / 5) * abs(0.5 - 1.0)
    assert expected_calibration_error(p, y, 5) == pytest.approx(ece5, abs=1e-12)


def test_float32_value_nearest_edge_is_binned_exactly():
    # edges are b/n rounded to the input dtype: a decimal edge typed by the user is an edge
    from gencal.metrics.binning import bin_index

    for dtype in (torch.float16, torch.float32, torch.float64):
        c = torch.tensor([0.2, 0.4, 0.6, 0.8, 1.0, 0.0, 0.21], dtype=dtype)
        assert bin_index(c, 5).tolist() == [0, 1, 2, 3, 4, 0, 1]
    above = torch.nextafter(torch.tensor(0.2), torch.tensor(1.0))
    assert bin_index(above[None], 5).tolist() == [1]


def test_mce_is_max_norm():
    p, y, _ = make_probs(300, 4, seed=5)
    conf, pred = top_label(p)
    ref = naive_ece(conf.astype(np.float32), pred == y.numpy(), 15, "max")
    assert maximum_calibration_error(p, y) == pytest.approx(ref, abs=1e-9)


def test_nll_matches_sklearn():
    p, y, _ = make_probs(500, 6, seed=7, dtype=torch.float64)
    ref = log_loss(y.numpy(), p.numpy(), labels=list(range(6)))
    assert negative_log_likelihood(p, y) == pytest.approx(ref, rel=1e-10)


def test_nll_clamps_zero_probability():
    p = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    y = torch.tensor([1, 0])
    assert negative_log_likelihood(p, y) == pytest.approx((-math.log(1e-12) + math.log(2)) / 2)
    assert negative_log_likelihood(p, y, eps=1e-6) == pytest.approx(
        (-math.log(1e-6) + math.log(2)) / 2
    )


def test_brier_matches_naive_loop():
    p, y, _ = make_probs(200, 5, seed=8)
    ref = 0.0
    for row, lab in zip(p.double().tolist(), y.tolist()):
        ref += sum((v - (1.0 if k == lab else 0.0)) ** 2 for k, v in enumerate(row))
    assert brier_score(p, y) == pytest.approx(ref / len(y), abs=1e-6)


def test_accuracy_and_balanced_accuracy_match_sklearn():
    p, y, _ = make_probs(400, 6, seed=9)
    y = y.clone()
    y[y == 2] = 3  # class 2 absent from the labels
    pred = p.argmax(1).numpy()
    assert accuracy(p, y) == pytest.approx(float((pred == y.numpy()).mean()))
    with pytest.warns(UserWarning):  # sklearn warns about the predicted-but-absent class
        ref = balanced_accuracy_score(y.numpy(), pred)
    assert balanced_accuracy(p, y) == pytest.approx(ref, abs=1e-12)


def test_numpy_and_float16_inputs():
    p, y, _ = make_probs(300, 5, seed=10)
    p16 = p.half()
    p16 = p16 / p16.float().sum(1, keepdim=True).half()  # still within float16 tolerance
    conf, pred = top_label(p16.float())
    ref = naive_ece(conf.astype(np.float32), pred == y.numpy(), 15)
    assert expected_calibration_error(p16, y) == pytest.approx(ref, abs=1e-9)
    assert expected_calibration_error(p16.numpy(), y.numpy()) == pytest.approx(ref, abs=1e-9)
    assert brier_score(p.numpy(), y.numpy()) == pytest.approx(brier_score(p, y), abs=1e-12)


def test_single_sample():
    p = torch.tensor([[0.3, 0.7]])
    y = torch.tensor([1])
    assert expected_calibration_error(p, y) == pytest.approx(0.3, abs=1e-6)
    assert accuracy(p, y) == 1.0
    assert brier_score(p, y) == pytest.approx(0.18, abs=1e-6)


@pytest.mark.parametrize(
    ("probs", "labels", "match"),
    [
        ([[0.5, float("nan")]], [0], "non-finite"),
        ([[0.5, float("inf")]], [0], "non-finite"),
        ([[0.5, 0.6]], [0], "sum to 1"),
        ([[1.2, -0.2]], [0], r"\[0, 1\]"),
        ([[0.5, 0.5]], [2], "out of range"),
        ([[0.5, 0.5]], [-1], "out of range"),
        ([[0.5, 0.5], [0.5, 0.5]], [0], "length|match"),
        ([[0.5, 0.5]], [0.0], "integer"),
        ([[[0.5, 0.5]]], [0], "shape"),  # [N] is a binary column; 3-d is not scores
    ],
)
def test_bad_input(probs, labels, match):
    with pytest.raises(GencalInputError, match=match):
        expected_calibration_error(torch.tensor(probs), torch.tensor(labels))


def test_bad_options():
    p, y, _ = make_probs(10, 3)
    with pytest.raises(GencalInputError, match="n_bins"):
        expected_calibration_error(p, y, n_bins=0)
    with pytest.raises(GencalInputError, match="norm"):
        expected_calibration_error(p, y, norm="l3")
