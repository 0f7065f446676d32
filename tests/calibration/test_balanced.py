"""``balanced=True``: fitting with class-balanced sample weights."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from gencal.calibration import class_balanced_weights, get_calibrator, list_calibrators
from tests.calibration._ref import random_logits, ref_softmax, sample_labels


@pytest.fixture(scope="module")
def long_tailed():
    """Five classes with counts 400, 160, 64, 26, 10; the head over-confident, the tail not."""
    rng = np.random.default_rng(5)
    counts = [400, 160, 64, 26, 10]
    zs, ys = [], []
    for c, n in enumerate(counts):
        z = random_logits(n, 5, rng)
        z[:, c] += 3.0
        y = sample_labels(ref_softmax(z / (2.5 if c == 0 else 0.7)), rng)
        zs.append(z)
        ys.append(y)
    z, y = np.concatenate(zs), np.concatenate(ys)
    zt = random_logits(200, 5, rng)
    return z, y, zt


@pytest.mark.parametrize("name", list_calibrators())
def test_balanced_equals_explicit_class_balanced_weights(name, long_tailed):
    z, y, zt = long_tailed
    cb = class_balanced_weights(y, 5)
    a = get_calibrator(name, balanced=True).fit(z, y).predict_proba(zt)
    b = get_calibrator(name).fit(z, y, sample_weight=cb).predict_proba(zt)
    np.testing.assert_allclose(a, b, atol=1e-12)
    # given weights are multiplied with the class-balanced ones
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    a = get_calibrator(name, balanced=True).fit(z, y, sample_weight=w).predict_proba(zt)
    b = get_calibrator(name).fit(z, y, sample_weight=w * cb).predict_proba(zt)
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_balanced_ts_minimises_the_mean_of_per_class_nll(long_tailed):
    z, y, _ = long_tailed

    def per_class_mean_nll(u: float) -> float:
        nll = -log_softmax(z / np.exp(u), axis=1)[np.arange(len(y)), y]
        return float(np.mean([nll[y == c].mean() for c in range(5)]))

    ref = minimize_scalar(
        per_class_mean_nll, bounds=(-3, 3), method="bounded", options={"xatol": 1e-10}
    )
    balanced = get_calibrator("ts", balanced=True).fit(z, y).temperature_
    plain = get_calibrator("ts").fit(z, y).temperature_
    assert abs(np.log(balanced) - ref.x) < 1e-5
    assert abs(np.log(plain) - np.log(balanced)) > 0.05  # the head dominates the plain fit
