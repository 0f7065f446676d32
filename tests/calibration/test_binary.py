"""Binary problems given as one score column (sigmoid convention) or two columns."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_expit

from gencal.calibration import get_calibrator, list_calibrators


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(9)
    s = rng.normal(size=1200) * 3.0  # logit of class 1, over-confident by a factor of 2
    y = (rng.random(1200) < expit(s / 2.0)).astype(np.int64)
    st = rng.normal(size=300) * 3.0
    return s, y, st


def _two(s):
    return np.stack([np.zeros_like(s), s], axis=1)


@pytest.mark.parametrize("name", list_calibrators())
@pytest.mark.parametrize("layout", ["[N]", "[N, 1]"])
def test_single_column_equals_the_two_column_form(name, layout, binary):
    s, y, st = binary
    shape = (lambda a: a) if layout == "[N]" else (lambda a: a[:, None])
    one = get_calibrator(name).fit(shape(s), y)
    two = get_calibrator(name).fit(_two(s), y)
    p_two = two.predict_proba(_two(st))
    p_one = one.predict_proba(shape(st))
    assert p_one.shape == shape(st).shape
    np.testing.assert_allclose(p_one.reshape(-1), p_two[:, 1], atol=1e-12)
    z_two = two.transform(_two(st))
    z_one = one.transform(shape(st))
    assert z_one.shape == shape(st).shape
    np.testing.assert_allclose(z_one.reshape(-1), z_two[:, 1] - z_two[:, 0], atol=1e-9)
    np.testing.assert_array_equal(one.predict(shape(st)), p_two.argmax(axis=1))
    # a calibrator fitted on one layout applies to the other
    np.testing.assert_allclose(one.predict_proba(_two(st)), p_two, atol=1e-12)


def test_binary_ts_is_sigmoid_temperature_scaling(binary):
    s, y, st = binary

    def bce(u: float) -> float:  # independent reference: Bernoulli NLL of sigmoid(s / T)
        a = s / np.exp(u)
        return float(-np.mean(y * log_expit(a) + (1 - y) * log_expit(-a)))

    ref = np.exp(minimize_scalar(bce, bounds=(-3, 3), method="bounded", options={"xatol": 1e-10}).x)
    cal = get_calibrator("ts").fit(torch.tensor(s, dtype=torch.float32), torch.tensor(y))
    assert abs(np.log(cal.temperature_ / ref)) < 1e-4
    assert abs(np.log(cal.temperature_ / 2.0)) < 0.25  # the over-confidence built into the data
    out = cal.predict_proba(torch.tensor(st, dtype=torch.float32))
    assert out.shape == (300,) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), expit(st / cal.temperature_), atol=1e-6)


@pytest.mark.parametrize("name", ["ts", "ats"])
def test_single_probability_column(name, binary):
    s, y, st = binary
    hp = {"min_piece_size": 50.0} if name == "ats" else {}
    from_logit = get_calibrator(name, **hp).fit(s, y)
    from_prob = get_calibrator(name, inputs="probs", **hp).fit(expit(s), y)
    np.testing.assert_allclose(
        from_prob.predict_proba(expit(st)), from_logit.predict_proba(st), atol=1e-9
    )
