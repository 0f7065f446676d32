"""Ensemble temperature scaling (ets) and spline recalibration (spline): known answers and
independent references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.interpolate import CubicSpline

from gencal.calibration import get_calibrator, load_calibrator
from gencal.calibration.spline import natural_cubic_basis
from tests.calibration._ref import (
    confidence_dependent_data,
    random_logits,
    ref_ece,
    ref_nll,
    ref_softmax,
    sample_labels,
    single_temperature_data,
)


def _calibrated_data(n, k, rng):
    z = random_logits(n, k, rng)
    return z, sample_labels(ref_softmax(z), rng)


def _noisy_data(n, k, rng, t=1.8, eps=0.25):
    """Labels from 0.75 softmax(z / 1.8) + 0.25 uniform: TS alone cannot fit it."""
    z = random_logits(n, k, rng)
    p = (1 - eps) * ref_softmax(z / t) + eps / k
    return z, sample_labels(p, rng)


# ----------------------------------------------------------------------------- ets


@pytest.mark.parametrize("loss", ["mse", "nll"])
def test_ets_on_calibrated_data_is_the_raw_softmax(loss):
    rng = np.random.default_rng(0)
    z, y = _calibrated_data(5000, 5, rng)
    ets = get_calibrator("ets", loss=loss).fit(z, y)
    assert abs(np.log(ets.temperature_)) < 0.08
    assert ets.weights_[2] < 0.03  # ~no uniform mass: ~all weight on softmax(z / T), T ~ 1
    zt = random_logits(2000, 5, rng)
    assert np.abs(ets.predict_proba(zt) - ref_softmax(zt)).max() < 0.03


def test_ets_weights_match_a_simplex_grid_search():
    rng = np.random.default_rng(1)
    z, y = _noisy_data(3000, 4, rng)
    ets = get_calibrator("ets", loss="nll").fit(z, y)
    comps = [ref_softmax(z / ets.temperature_), ref_softmax(z), np.full(z.shape, 0.25)]
    best, arg = np.inf, None
    grid = np.linspace(0, 1, 101)
    for a, b in itertools.product(grid, grid):
        if a + b <= 1 + 1e-12:
            v = ref_nll(a * comps[0] + b * comps[1] + (1 - a - b) * comps[2], y)
            if v < best:
                best, arg = v, (a, b, 1 - a - b)
    ours = ref_nll(ets.predict_proba(z), y)
    assert ours <= best + 1e-6  # at least as good as the grid optimum
    np.testing.assert_allclose(ets.weights_.sum(), 1.0)
    assert abs(ets.weights_[2] - arg[2]) < 0.03


@pytest.mark.parametrize("loss", ["mse", "nll"])
def test_ets_improves_on_none_and_ts_where_labels_are_noisy(loss):
    rng = np.random.default_rng(2)
    z, y = _noisy_data(3000, 10, rng)
    zt, yt = _noisy_data(20_000, 10, rng)
    p = {n: get_calibrator(n, **h).fit(z, y).predict_proba(zt) for n, h in
         (("none", {}), ("ts", {}), ("ets", {"loss": loss}))}  # fmt: skip
    assert ref_ece(p["ets"], yt) < 0.5 * ref_ece(p["none"], yt)
    assert ref_nll(p["ets"], yt) < ref_nll(p["ts"], yt)
    np.testing.assert_array_equal(p["ets"].argmax(1), zt.argmax(1))


def test_ets_mse_temperature_is_the_brier_optimum():
    rng = np.random.default_rng(3)
    z, y = single_temperature_data(3000, 5, rng, t=2.0)
    ets = get_calibrator("ets", loss="mse").fit(z, y)
    onehot = np.eye(5)[y]
    ts = np.geomspace(0.5, 5, 2001)
    brier = [np.mean(((ref_softmax(z / t) - onehot) ** 2).sum(1)) for t in ts]
    assert abs(np.log(ets.temperature_) - np.log(ts[int(np.argmin(brier))])) < 2e-3


# ----------------------------------------------------------------------------- spline


def test_natural_cubic_basis_spans_scipy_natural_spline():
    rng = np.random.default_rng(4)
    knots = np.sort(rng.uniform(0, 1, 6))
    values = rng.normal(size=6)
    coef = np.linalg.solve(natural_cubic_basis(knots, knots), values)
    t = np.linspace(knots[0], knots[-1], 301)
    ref = CubicSpline(knots, values, bc_type="natural")
    np.testing.assert_allclose(natural_cubic_basis(t, knots) @ coef, ref(t), atol=1e-9)
    np.testing.assert_allclose(
        natural_cubic_basis(t, knots, derivative=True) @ coef, ref(t, 1), atol=1e-8
    )


def test_spline_on_calibrated_data_stays_near_identity():
    rng = np.random.default_rng(5)
    z, y = _calibrated_data(5000, 5, rng)
    cal = get_calibrator("spline").fit(z, y)
    zt = random_logits(3000, 5, rng)
    assert np.abs(cal.predict_proba(zt).max(1) - ref_softmax(zt).max(1)).mean() < 0.015


@pytest.mark.parametrize("gen", [confidence_dependent_data, single_temperature_data])
def test_spline_reduces_ece_on_miscalibrated_data(gen):
    rng = np.random.default_rng(6)
    z, y = gen(3000, 10, rng)
    zt, yt = gen(20_000, 10, rng)
    raw = ref_softmax(zt)
    p = get_calibrator("spline").fit(z, y).predict_proba(zt)
    assert ref_ece(p, yt) < 0.4 * ref_ece(raw, yt), (ref_ece(p, yt), ref_ece(raw, yt))
    assert ref_nll(p, yt) < ref_nll(raw, yt)


def test_spline_keeps_argmax_and_the_proportions_of_the_rest():
    rng = np.random.default_rng(7)
    z, y = confidence_dependent_data(2000, 6, rng)
    cal = get_calibrator("spline").fit(z, y)
    zt = random_logits(3000, 6, rng)
    zt[:50, 1] = zt[:50, 0]  # exact ties
    p, raw = cal.predict_proba(zt), ref_softmax(zt)
    np.testing.assert_array_equal(p.argmax(1), zt.argmax(1))
    top = zt.argmax(1)
    mask = np.ones_like(p, dtype=bool)
    mask[np.arange(len(p)), top] = False
    ratio = p[mask].reshape(len(p), 5) / raw[mask].reshape(len(p), 5)
    ok = raw[mask].reshape(len(p), 5).min(1) > 1e-8
    np.testing.assert_allclose(ratio[ok], ratio[ok][:, :1] * np.ones((1, 5)), rtol=1e-6)
    back = load_calibrator(cal.to_json())
    np.testing.assert_allclose(back.predict_proba(zt), p, rtol=1e-12)
