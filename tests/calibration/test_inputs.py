"""Declared probabilities (``inputs="probs"``), and warnings for inputs that look wrong."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from gencal import GencalInputError, InputLooksLikeProbabilitiesWarning
from gencal.calibration import TemperatureAtBoundWarning, get_calibrator, list_calibrators
from tests.calibration._ref import confidence_dependent_data, ref_softmax


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(21)
    z, y = confidence_dependent_data(1500, 5, rng)
    zt, _ = confidence_dependent_data(400, 5, rng)
    return z, y, zt


@pytest.mark.parametrize("name", ["ts", "ats", "ts_grid"])
def test_probs_declared_equal_the_logits_they_came_from(name, data):
    z, y, zt = data
    hp = {"min_piece_size": 50.0} if name == "ats" else {}
    from_logits = get_calibrator(name, **hp).fit(z, y)
    from_probs = get_calibrator(name, inputs="probs", **hp).fit(ref_softmax(z), y)
    np.testing.assert_allclose(
        from_probs.predict_proba(ref_softmax(zt)), from_logits.predict_proba(zt), atol=1e-9
    )
    # float32 probabilities as a tensor give the same answer to float32 precision
    p32 = torch.tensor(ref_softmax(zt), dtype=torch.float32)
    out = from_probs.predict_proba(p32)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), from_logits.predict_proba(zt), atol=2e-6)
    # half-precision probabilities are accepted (their rows sum to 1 only to ~1e-3)
    p16 = torch.tensor(ref_softmax(zt), dtype=torch.float16)
    out16 = from_probs.predict_proba(p16)
    assert out16.dtype == torch.float16
    np.testing.assert_allclose(out16.float().numpy(), from_logits.predict_proba(zt), atol=2e-3)


@pytest.mark.parametrize("name", list_calibrators())
def test_every_calibrator_takes_probabilities(name, data):
    z, y, zt = data
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputLooksLikeProbabilitiesWarning)
        cal = get_calibrator(name, inputs="probs").fit(ref_softmax(z), y)
        p = cal.predict_proba(ref_softmax(zt))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)


def test_declared_probabilities_are_checked(data):
    z, y, _ = data
    cal = get_calibrator("ts", inputs="probs")
    with pytest.raises(GencalInputError, match=r"inputs='probs'.*do not sum to 1"):
        cal.fit(np.abs(z), y)
    with pytest.raises(GencalInputError, match=r"inputs='probs'.*negative"):
        cal.fit(ref_softmax(z) - 0.5, y)
    # exact zeros are allowed: the log is floored, the fit stays finite
    p = ref_softmax(z)
    p[0] = 0.0
    p[0, y[0]] = 1.0
    assert np.isfinite(cal.fit(p, y).temperature_)


def test_undeclared_probabilities_warn(data):
    z, y, _ = data
    with pytest.warns(InputLooksLikeProbabilitiesWarning) as rec:
        get_calibrator("ts").fit(ref_softmax(z), y)
    msg = str(rec[0].message)
    assert "1500 rows" in msg and "inputs='probs'" in msg and "--probs" in msg
    # real logits do not warn
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputLooksLikeProbabilitiesWarning)
        get_calibrator("ts").fit(z, y)


def test_temperature_at_a_bound_warns_with_the_cause(data):
    z, y, _ = data
    # probabilities of a model that is right on every sample, passed as logits: T -> t_min
    p = ref_softmax(3 * z)
    right = p.argmax(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputLooksLikeProbabilitiesWarning)
        with pytest.warns(TemperatureAtBoundWarning, match=r"t_min.*inputs='probs'.*--probs"):
            cal = get_calibrator("ts").fit(p, right)
    assert cal.temperature_ == pytest.approx(0.01)
    # labels unrelated to the logits: the NLL falls as T grows -> T at t_max
    y_random = np.random.default_rng(0).permutation(y)
    with pytest.warns(TemperatureAtBoundWarning, match=r"t_max.*labels that do not go with"):
        cal = get_calibrator("ts", t_max=5.0).fit(z, y_random)
    assert cal.temperature_ == pytest.approx(5.0)
    # a fit inside the bounds is silent
    with warnings.catch_warnings():
        warnings.simplefilter("error", TemperatureAtBoundWarning)
        get_calibrator("ts").fit(z, y)


@pytest.mark.parametrize("name", ["ts", "ats"])
def test_temperature_at_lower_bound_warns_with_the_cause(name):
    rng = np.random.default_rng(3)
    z = rng.normal(size=(300, 4)) * 5
    y = z.argmax(axis=1)  # every sample correct: NLL falls as T -> 0
    with pytest.warns(TemperatureAtBoundWarning, match=r"t_min.*degenerate calibration set"):
        get_calibrator(name).fit(z, y)
