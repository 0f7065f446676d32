"""Temperature scaling (ts) and grid temperature scaling (ts_grid) against independent fits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp

from gencal.calibration import get_calibrator
from gencal.calibration.temperature import TemperatureAtBoundWarning
from tests.calibration._ref import (
    random_logits,
    ref_ece,
    ref_softmax,
    sample_labels,
    single_temperature_data,
)


def _ref_weighted_nll(z, y, w, t):
    s = z / t
    return float(np.sum(w * (logsumexp(s, axis=1) - s[np.arange(len(y)), y])) / w.sum())


def _ref_ts(z, y, w=None):
    """Independent TS: bounded scalar minimisation of the NLL over log T."""
    w = np.ones(len(y)) if w is None else w
    res = minimize_scalar(
        lambda u: _ref_weighted_nll(z, y, w, np.exp(u)),
        bounds=(np.log(0.01), np.log(100)),
        method="bounded",
        options={"xatol": 1e-9},
    )
    return float(np.exp(res.x))


@pytest.mark.parametrize("t_star", [0.4, 1.0, 2.5, 6.0])
def test_ts_recovers_known_temperature(t_star):
    rng = np.random.default_rng(int(t_star * 10))
    z = random_logits(60_000, 10, rng)
    y = sample_labels(ref_softmax(z / t_star), rng)
    t = get_calibrator("ts").fit(z, y).temperature_
    assert abs(np.log(t / t_star)) < 0.03, (t, t_star)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ts_matches_independent_fit(seed):
    rng = np.random.default_rng(seed)
    z, y = single_temperature_data(2_000, 7, rng, t=0.5 + seed)
    w = rng.uniform(0.1, 3.0, size=len(y))
    for weights in (None, w):
        ours = get_calibrator("ts").fit(z, y, sample_weight=weights).temperature_
        ref = _ref_ts(z, y, weights)
        assert abs(np.log(ours / ref)) < 1e-5
        # and ours is the minimiser: no better NLL nearby
        ww = np.ones(len(y)) if weights is None else weights
        base = _ref_weighted_nll(z, y, ww, ours)
        for f in (0.999, 1.001):
            assert base <= _ref_weighted_nll(z, y, ww, ours * f) + 1e-12


def test_ts_all_correct_hits_bound():
    # every sample correct with a margin: NLL decreases as T -> 0, so T is the lower bound
    rng = np.random.default_rng(3)
    z = rng.normal(size=(200, 4))
    y = z.argmax(axis=1)
    with pytest.warns(TemperatureAtBoundWarning, match="t_min"):
        cal = get_calibrator("ts", t_min=0.05, t_max=20).fit(z, y)
    assert cal.temperature_ == pytest.approx(0.05)


def test_ts_keeps_argmax():
    rng = np.random.default_rng(4)
    z, y = single_temperature_data(500, 6, rng)
    cal = get_calibrator("ts").fit(z, y)
    np.testing.assert_array_equal(cal.predict_proba(z).argmax(1), z.argmax(1))


def test_ts_grid_matches_reference_search():
    rng = np.random.default_rng(5)
    z, y = single_temperature_data(3_000, 10, rng, t=2.3)
    grid = [round(0.1 * i, 1) for i in range(1, 101)]
    eces = [ref_ece(ref_softmax(z / t), y, 15) for t in grid]
    cal = get_calibrator("ts_grid").fit(z, y)
    assert cal.temperature_ == grid[int(np.argmin(eces))]
    np.testing.assert_allclose(cal.scores_, eces, atol=1e-12)
    nlls = [_ref_weighted_nll(z, y, np.ones(len(y)), t) for t in grid]
    cal_nll = get_calibrator("ts_grid", criterion="nll").fit(z, y)
    assert cal_nll.temperature_ == grid[int(np.argmin(nlls))]


def test_ts_solvers_agree():
    rng = np.random.default_rng(8)
    z, y = single_temperature_data(3_000, 20, rng, t=3.3)
    a = get_calibrator("ts", solver="newton").fit(z, y).temperature_
    b = get_calibrator("ts", solver="brent").fit(z, y).temperature_
    assert abs(np.log(a / b)) < 1e-8
    assert abs(np.log(a / _ref_ts(z, y))) < 1e-5


def test_ts_constant_logits_give_unit_temperature():
    # logits constant across classes: the NLL does not depend on T; T stays at 1
    z = np.tile(np.arange(20, dtype=np.float64)[:, None], (1, 3))
    y = np.arange(20) % 3
    assert get_calibrator("ts").fit(z, y).temperature_ == pytest.approx(1.0)
