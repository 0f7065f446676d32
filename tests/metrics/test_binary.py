"""Binary problems: one score column (the positive class, sigmoid convention) equals the
explicit two-column form in every metric."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gencal.metrics import (
    AdaptiveCalibrationError,
    ExpectedCalibrationError,
    NegativeLogLikelihood,
    adaptive_calibration_error,
    brier_score,
    calibration_report,
    classwise_calibration_error,
    expected_calibration_error,
    negative_log_likelihood,
    reliability_data,
)


def _binary(n: int = 400, seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    z = 2.5 * torch.randn(n, generator=g, dtype=torch.float64)
    y = (torch.rand(n, generator=g, dtype=torch.float64) < torch.sigmoid(z / 1.3)).long()
    p = torch.sigmoid(z)
    # the explicit two-column forms, built independently of the library
    p2 = torch.stack([1.0 - p, p], dim=1)
    z2 = torch.stack([torch.zeros_like(z), z], dim=1)
    return z.to(dtype), p.to(dtype), p2.to(dtype), z2.to(dtype), y


@pytest.mark.parametrize("shape", ["flat", "column"])
def test_functional_metrics_accept_one_probability_column(shape):
    _, p, p2, _, y = _binary()
    one = p if shape == "flat" else p[:, None]
    for fn in (
        expected_calibration_error,
        adaptive_calibration_error,
        classwise_calibration_error,
        negative_log_likelihood,
        brier_score,
    ):
        assert fn(one, y) == pytest.approx(fn(p2, y), abs=1e-12), fn.__name__
    # a hand-computed reference for the binary Brier score (summed over both classes)
    assert brier_score(one, y) == pytest.approx(float((2 * (p - y) ** 2).mean()), abs=1e-12)


@pytest.mark.parametrize("inputs", ["logits", "probs"])
@pytest.mark.parametrize("shape", ["flat", "column"])
def test_report_accepts_one_column(inputs, shape):
    z, p, p2, z2, y = _binary(seed=1)
    one, two = (z, z2) if inputs == "logits" else (p, p2)
    if shape == "column":
        one = one[:, None]
    a = calibration_report(one, y, inputs=inputs, groups=["neg", "pos"])
    b = calibration_report(two, y, inputs=inputs, groups=["neg", "pos"])
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == pytest.approx(b[key], abs=1e-12, nan_ok=True), key
    # exact binary NLL from a logit: softplus(-z) for y = 1, softplus(z) for y = 0
    nll = torch.nn.functional.softplus(torch.where(y == 1, -z, z)).mean().item()
    if inputs == "logits":
        assert a["nll"] == pytest.approx(nll, rel=1e-12)


def test_ood_scores_and_reliability_and_stateful_accept_one_column():
    z, p, p2, z2, y = _binary(seed=2)
    z_ood = 0.3 * torch.randn(50, dtype=torch.float64)
    a = calibration_report(z, y, ood_scores=z_ood)
    b = calibration_report(z2, y, ood_scores=torch.stack([torch.zeros_like(z_ood), z_ood], 1))
    assert a["ood_auroc"] == pytest.approx(b["ood_auroc"], abs=1e-12)
    r1, r2 = reliability_data(p, y), reliability_data(p2, y)
    assert np.array_equal(r1.count, r2.count) and r1.ece == pytest.approx(r2.ece, abs=1e-12)
    for cls, kw in (
        (ExpectedCalibrationError, {}),
        (AdaptiveCalibrationError, {}),
        (NegativeLogLikelihood, {"inputs": "logits"}),
    ):
        m1, m2 = cls(**kw), cls(**kw)
        one, two = (z, z2) if kw else (p, p2)
        m1.update(one[:150], y[:150])
        m1.update(one[150:], y[150:])
        m2.update(two, y)
        assert float(m1.compute()) == pytest.approx(float(m2.compute()), abs=1e-12), cls


def test_one_column_probabilities_are_validated():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        expected_calibration_error(torch.tensor([0.2, 1.5]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="out of range"):
        expected_calibration_error(torch.tensor([0.2, 0.5]), torch.tensor([0, 2]))
