"""Stateful metrics: several updates == the functional metric on all data; DDP-style merging."""

from __future__ import annotations

import pytest
import torch

from gencal import GencalInputError
from gencal.metrics import (
    accuracy,
    adaptive_calibration_error,
    brier_score,
    classwise_calibration_error,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
)
from gencal.metrics.stateful import (
    Accuracy,
    AdaptiveCalibrationError,
    BrierScore,
    ClasswiseCalibrationError,
    ExpectedCalibrationError,
    MaximumCalibrationError,
    NegativeLogLikelihood,
)
from tests.metrics.conftest import make_probs

K = 6
CASES = [
    (lambda: ExpectedCalibrationError(n_bins=15), expected_calibration_error),
    (
        lambda: ExpectedCalibrationError(n_bins=20, norm="l2"),
        lambda p, y: expected_calibration_error(p, y, 20, "l2"),
    ),
    (lambda: MaximumCalibrationError(), maximum_calibration_error),
    (lambda: AdaptiveCalibrationError(), adaptive_calibration_error),
    (lambda: ClasswiseCalibrationError(num_classes=K), classwise_calibration_error),
    (
        lambda: ClasswiseCalibrationError(num_classes=K, norm="max"),
        lambda p, y: classwise_calibration_error(p, y, norm="max"),
    ),
    (lambda: NegativeLogLikelihood(), negative_log_likelihood),
    (lambda: BrierScore(), brier_score),
    (lambda: Accuracy(), accuracy),
]


@pytest.mark.parametrize(("make", "fn"), CASES)
def test_batches_equal_functional(make, fn):
    p, y, _ = make_probs(1000, K, seed=70)
    ref = fn(p, y)  # functional metrics are tested against independent references elsewhere
    m = make()
    for chunk in (slice(0, 1), slice(1, 333), slice(333, 700), slice(700, 1000)):
        m.update(p[chunk], y[chunk])
    assert float(m.compute()) == pytest.approx(ref, abs=1e-9)
    m.reset()
    m.update(p[:10], y[:10])
    assert float(m.compute()) == pytest.approx(fn(p[:10], y[:10]), abs=1e-9)


@pytest.mark.parametrize(("make", "fn"), CASES)
def test_merged_states_equal_functional(make, fn):
    # what DDP does: each rank updates its shard, states are reduced (sum / cat), then compute
    p, y, _ = make_probs(600, K, seed=71)
    a, b = make(), make()
    a.update(p[::2], y[::2])
    b.update(p[1::2], y[1::2])
    a.merge_state(b)
    assert float(a.compute()) == pytest.approx(fn(p, y), abs=1e-9)


def test_logits_input_nll_is_exact():
    z = torch.tensor([[0.0, 100.0], [1.0, 0.0]])
    y = torch.tensor([0, 0])
    m = NegativeLogLikelihood(inputs="logits")
    m.update(z, y)
    expected = (
        100.0
        + torch.log1p(torch.exp(torch.tensor(-100.0))).item()
        + torch.nn.functional.softplus(torch.tensor(-1.0)).item()
    ) / 2
    assert float(m.compute()) == pytest.approx(expected, rel=1e-6)


def test_stateful_bad_input():
    m = ExpectedCalibrationError()
    with pytest.raises(GencalInputError, match="sum to 1"):
        m.update(torch.tensor([[0.9, 0.9]]), torch.tensor([0]))
    with pytest.raises(GencalInputError, match="classes"):
        ClasswiseCalibrationError(num_classes=3).update(
            torch.tensor([[0.5, 0.5]]), torch.tensor([0])
        )
