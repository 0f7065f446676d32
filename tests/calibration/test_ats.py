"""Adaptive piecewise temperature scaling (ats): no argmax change, no inversions along logit
rays, clear gains on confidence-dependent miscalibration, no loss on single-temperature data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize, minimize_scalar

from gencal.calibration import get_calibrator, load_calibrator
from gencal.calibration.ats import (
    AdaptiveTemperatureScaling,
    equal_mass_pieces,
    project_slopes,
    top_log_odds,
)
from tests.calibration._ref import (
    confidence_dependent_data,
    random_logits,
    ref_ece,
    ref_nll,
    ref_softmax,
    single_temperature_data,
)


def _log_odds_ref(z):
    # independent: log(c / (1 - c)) from a naive softmax, in long double where c rounds to 1
    p = ref_softmax(z)
    c = p.max(1)
    return np.log(c) - np.log(1 - c)


def _bound_x(x, k):
    # the claimed bound on a * d x(a z) / da in log-odds: x + log(K - 1)
    return x + np.log(k - 1)


@pytest.mark.parametrize("k", [2, 5, 100])
def test_ray_derivative_bound_in_log_odds(k):
    """The inequality behind the slope bound: 0 <= a * d x(a z) / da <= x + log(K - 1)."""
    rng = np.random.default_rng(k)
    z = random_logits(3000, k, rng)
    z[:200] = rng.normal(size=(200, k)) * 0.05  # near-uniform rows
    z[200:400] = rng.normal(size=(200, k)) * 4.0  # non-top mass far from uniform
    h = 1e-5
    x0 = _log_odds_ref(z)
    dx = (_log_odds_ref(z * (1 + h)) - _log_odds_ref(z * (1 - h))) / (2 * h)
    ok = (ref_softmax(z).max(1) < 1 - 1e-6) & (x0 > -np.log(k - 1) + 1e-6)
    assert np.all(dx[ok] >= -1e-6)
    assert np.all(dx[ok] <= _bound_x(x0[ok], k) * (1 + 1e-5) + 1e-5)
    if k == 2:  # tight for two classes: x(a z) = a x(z)
        np.testing.assert_allclose(dx[ok], x0[ok], rtol=1e-4, atol=1e-5)


def test_top_log_odds_matches_naive_and_stays_finite():
    rng = np.random.default_rng(3)
    z = random_logits(500, 7, rng)
    np.testing.assert_allclose(top_log_odds(z), _log_odds_ref(z), rtol=1e-9, atol=1e-9)
    big = np.array([[80.0, 0.0, -1.0]])  # confidence rounds to 1 in float64
    assert ref_softmax(big).max() == 1.0
    np.testing.assert_allclose(top_log_odds(big), [-np.log(np.exp(-80.0) + np.exp(-81.0))])


@pytest.fixture(scope="module")
def fitted():
    out = {}
    for k in (2, 3, 10, 100):
        rng = np.random.default_rng(10 + k)
        z, y = confidence_dependent_data(3000, k, rng)
        out[k] = get_calibrator("ats", n_pieces=12, min_piece_size=50, shrinkage=10).fit(z, y)
    return out


def _ray_profiles(cal, k, rng, n_rays=300):
    n_rays = n_rays if k <= 10 else n_rays // 2
    z = rng.normal(size=(n_rays, k)) * rng.uniform(0.05, 1.0, size=(n_rays, 1))
    z[: n_rays // 3, 0] += rng.uniform(0, 2, n_rays // 3)  # rays with one dominant class
    a = np.geomspace(0.05, 60, 600)
    za = (a[:, None, None] * z[None]).reshape(-1, k)
    out = cal.transform(za).reshape(len(a), n_rays, k)
    s = np.einsum("arc,rc->ar", out, z) / np.einsum("rc,rc->r", z, z)  # out = s(a) z
    np.testing.assert_allclose(out, s[:, :, None] * z[None], rtol=1e-9, atol=1e-9)
    conf = ref_softmax(out.reshape(-1, k)).max(1).reshape(len(a), n_rays)
    return a, s, conf


@pytest.mark.parametrize("k", [2, 3, 10, 100])
def test_monotone_along_rays(fitted, k):
    cal = fitted[k]
    assert len(cal.centres_) > 3  # a real piecewise curve
    _, s, conf = _ray_profiles(cal, k, np.random.default_rng(k))
    assert np.all(np.diff(s, axis=0) >= -1e-12 * s[1:])
    assert np.all(np.diff(conf, axis=0) >= -1e-12)


def test_unclipped_curve_can_invert():
    """Without the slope bound a steep fitted curve does create inversions (the test can fail)."""
    rng = np.random.default_rng(110)
    z, y = confidence_dependent_data(3000, 100, rng)
    cal = get_calibrator("ats", n_pieces=12, min_piece_size=50, shrinkage=10, clip_slope=False).fit(
        z, y
    )
    _, s, _ = _ray_profiles(cal, 100, np.random.default_rng(1))
    assert np.any(np.diff(s, axis=0) < -1e-6)


@pytest.mark.parametrize("k", [2, 3, 10, 100])
def test_fitted_curve_respects_slope_bound(fitted, k):
    cal = fitted[k]
    c, lt = cal.centres_, cal.log_temperatures_
    for b in range(len(c) - 1):
        grid = np.linspace(c[b], c[b + 1], 4001)
        slope = (lt[b + 1] - lt[b]) / (c[b + 1] - c[b])
        assert slope <= 1 / _bound_x(grid, k).max() + 1e-9
    assert np.all(np.exp(lt) >= cal.t_min - 1e-12) and np.all(np.exp(lt) <= cal.t_max + 1e-12)


def _curve_calibrator(k, centres, log_t, interpolation="linear"):
    """An ATS whose knots are set by hand (adversarial curves), projected as in fit."""
    cal = AdaptiveTemperatureScaling(n_pieces=len(centres), interpolation=interpolation)
    step = interpolation == "step"
    lt = project_slopes(centres, log_t, np.ones(len(centres)), k, step=step)
    cal._set_curve(
        {
            "temperature_global": 1.0,
            "edges": (centres[:-1] + centres[1:]) / 2,
            "piece_sizes": np.ones(len(centres)),
            "centres": centres,
            "log_t_own": log_t,
            "log_t_shrunk": log_t,
            "log_temperatures": lt,
        }
    )
    cal.n_pieces_, cal.shrinkage_, cal.cv_scores_, cal.num_classes_ = len(centres), 0.0, [], k
    return cal


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(2, 12),
    seed=st.integers(0, 2**31 - 1),
    n_knots=st.integers(2, 9),
    steepness=st.floats(0.0, 20.0),
    interpolation=st.sampled_from(["linear", "step"]),
)
def test_property_no_inversion_on_adversarial_curves(k, seed, n_knots, steepness, interpolation):
    """Any knot values (steep rises included), once projected, give rays z -> a z whose
    calibrated confidence never drops and whose argmax never changes."""
    rng = np.random.default_rng(seed)
    lo = -np.log(k - 1)
    centres = np.sort(rng.uniform(lo, 15.0, n_knots)) + np.arange(n_knots) * 1e-3
    log_t = np.cumsum(rng.normal(steepness / n_knots, 1.0, n_knots))  # rising: adversarial
    cal = _curve_calibrator(k, centres, log_t, interpolation)
    z = rng.normal(size=(40, k)) * rng.uniform(0.01, 5.0, size=(40, 1))
    z[:10, 1:] = z[:10, :1] - rng.uniform(0, 1e-3, size=(10, 1))  # near-ties with the top
    z[10:20, 2 % k] += 30.0  # one dominant class, skewed non-top mass
    a = np.geomspace(0.02, 200, 400)
    za = (a[:, None, None] * z[None]).reshape(-1, k)
    p = cal.predict_proba(za).reshape(len(a), len(z), k)
    conf = p.max(axis=2)
    assert np.all(np.diff(conf, axis=0) >= -1e-12)
    np.testing.assert_array_equal(p.argmax(axis=2), np.broadcast_to(z.argmax(1), conf.shape))


@pytest.mark.parametrize("k", [2, 3, 10, 100])
def test_keeps_argmax(fitted, k):
    rng = np.random.default_rng(k + 1)
    z = random_logits(2000, k, rng)
    np.testing.assert_array_equal(fitted[k].predict_proba(z).argmax(1), z.argmax(1))


def test_projection_matches_qp():
    """project_slopes = weighted least-squares projection onto the rise constraints (SLSQP ref)."""
    rng = np.random.default_rng(0)
    k = 10
    c = np.sort(rng.uniform(-1.0, 8.0, 7))
    lt = np.cumsum(rng.normal(0.4, 0.5, 7))  # steep, violates the bound
    wts = rng.uniform(50, 300, 7)
    ours = project_slopes(c, lt, wts, k)
    delta = np.array([(c[b + 1] - c[b]) / (c[b + 1] + np.log(k - 1)) for b in range(6)])
    cons = [{"type": "ineq", "fun": lambda v, b=b: delta[b] - (v[b + 1] - v[b])} for b in range(6)]
    ref = minimize(
        lambda v: np.sum(wts * (v - lt) ** 2),
        lt.copy(),
        constraints=cons,
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    ).x
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    feasible = np.full(7, 0.3)  # a flat curve is feasible: unchanged
    np.testing.assert_allclose(project_slopes(c, feasible, wts, k), feasible)


def test_equal_mass_pieces_reference():
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.1, 1, 1000)
    w = np.ones(1000)
    edges = equal_mass_pieces(conf, w, 4, 0)
    counts = np.bincount(np.searchsorted(edges, conf, side="left"))
    np.testing.assert_array_equal(counts, [250, 250, 250, 250])
    np.testing.assert_allclose(edges, np.sort(conf)[[249, 499, 749]])
    edges = equal_mass_pieces(conf, w, 8, 180)  # 125-sample pieces must merge
    counts = np.bincount(np.searchsorted(edges, conf, side="left"))
    assert counts.min() >= 180 and counts.sum() == 1000
    # ties never straddle an edge: half the samples at confidence exactly 1
    conf2 = np.concatenate([rng.uniform(0.2, 0.9, 500), np.ones(500)])
    edges2 = equal_mass_pieces(conf2, np.ones(1000), 8, 0)
    piece = np.searchsorted(edges2, conf2, side="left")
    assert len(np.unique(piece[conf2 == 1])) == 1


def test_one_piece_is_ts():
    rng = np.random.default_rng(2)
    z, y = confidence_dependent_data(800, 5, rng)
    ts = get_calibrator("ts", t_min=0.05, t_max=20).fit(z, y)
    for hp in ({"n_pieces": 1}, {"min_piece_size": 10_000}):
        ats = get_calibrator("ats", **hp).fit(z, y)
        np.testing.assert_allclose(ats.predict_proba(z), ts.predict_proba(z), atol=1e-8)
    strong = get_calibrator("ats", shrinkage=1e9).fit(z, y)
    np.testing.assert_allclose(np.exp(strong.log_temperatures_), ts.temperature_, rtol=1e-4)


def _compare(gen, n_cal, k, seeds, **hp):
    rows = []
    for s in seeds:
        rng = np.random.default_rng(s)
        z, y = gen(n_cal, k, rng)
        zt, yt = gen(20_000, k, rng)
        r = []
        for name, h in (("ts", {}), ("ats", hp)):
            p = get_calibrator(name, **h).fit(z, y).predict_proba(zt)
            r += [ref_ece(p, yt), ref_nll(p, yt)]
        rows.append(r)
    return np.mean(rows, axis=0)


@pytest.mark.parametrize("n_cal", [1300, 5000])
def test_beats_ts_on_confidence_dependent_miscalibration(n_cal):
    ts_ece, ts_nll, ats_ece, ats_nll = _compare(confidence_dependent_data, n_cal, 10, [0, 1])
    assert ats_ece < 0.6 * ts_ece, (ats_ece, ts_ece)
    assert ats_nll < ts_nll - 0.04, (ats_nll, ts_nll)


@pytest.mark.parametrize("k", [10, 100])
def test_no_worse_than_ts_on_single_temperature(k):
    ts_ece, ts_nll, ats_ece, ats_nll = _compare(single_temperature_data, 1300, k, [0, 1, 2])
    # within noise: the test-set NLL alone has a standard error of ~0.007 nats at n=20,000,
    # and TS's own ECE varies by ~0.5 points between seeds
    assert ats_nll <= ts_nll + 0.003 * ts_nll, (ats_nll, ts_nll)
    assert ats_ece <= ts_ece + 0.008, (ats_ece, ts_ece)


def test_ece_objective_and_linear_shrinkage_work():
    for hp in ({"objective": "ece"}, {"shrinkage_mode": "linear"}):
        ts_ece, ts_nll, ats_ece, ats_nll = _compare(confidence_dependent_data, 3000, 10, [3], **hp)
        assert ats_ece < 0.6 * ts_ece and ats_nll < ts_nll


# ----------------------------------------------------------------------------- cross-validation


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cv_falls_back_to_ts_on_single_temperature_data(seed):
    rng = np.random.default_rng(seed)
    z, y = single_temperature_data(1500, 10, rng)
    ats = get_calibrator("ats").fit(z, y)
    assert ats.n_pieces_ == 1 and len(ats.centres_) == 1
    ts = get_calibrator("ts", t_min=0.05, t_max=20).fit(z, y)
    zt = random_logits(2000, 10, rng)
    np.testing.assert_allclose(ats.predict_proba(zt), ts.predict_proba(zt), atol=1e-7)


@pytest.mark.parametrize("seed", [0, 1])
def test_cv_picks_pieces_on_confidence_dependent_data(seed):
    rng = np.random.default_rng(seed)
    z, y = confidence_dependent_data(1500, 10, rng)
    zt, yt = confidence_dependent_data(20_000, 10, rng)
    ats = get_calibrator("ats").fit(z, y)
    assert ats.n_pieces_ > 1 and len(ats.centres_) > 1
    ts = get_calibrator("ts").fit(z, y)
    ats_ece, ts_ece = ref_ece(ats.predict_proba(zt), yt), ref_ece(ts.predict_proba(zt), yt)
    assert ats_ece <= 0.5 * ts_ece, (ats_ece, ts_ece)
    assert ref_nll(ats.predict_proba(zt), yt) < ref_nll(ts.predict_proba(zt), yt)
    # the table holds every candidate pair, simplest (plain TS) first
    assert [(r["n_pieces"], r["shrinkage"]) for r in ats.cv_scores_] == ats.candidates()
    assert ats.candidates()[0][0] == 1


def test_cv_choice_is_saved_loaded_and_shown(tmp_path):
    rng = np.random.default_rng(5)
    z, y = confidence_dependent_data(1200, 5, rng)
    ats = get_calibrator("ats", objective="ece", n_pieces=[1, 4], shrinkage=[10, 30]).fit(z, y)
    path = ats.save(tmp_path / "ats.json")
    back = load_calibrator(path)
    assert (back.n_pieces_, back.shrinkage_) == (ats.n_pieces_, ats.shrinkage_)
    assert back.cv_scores_ == ats.cv_scores_ and len(back.cv_scores_) == 3
    np.testing.assert_allclose(back.transform(z), ats.transform(z), rtol=1e-12)
    assert f"n_pieces_={ats.n_pieces_}" in repr(back)
    assert back.get_params()["n_pieces"] == [1, 4]


def test_bin_wise_ts_setting_matches_per_bin_nll_temperatures():
    """interpolation="step", shrinkage=0: one NLL temperature per equal-count bin (Ji et al.)."""
    rng = np.random.default_rng(8)
    z, y = confidence_dependent_data(2000, 4, rng)
    bts = get_calibrator(
        "ats", n_pieces=5, shrinkage=0, min_piece_size=0, interpolation="step", clip_slope=False
    ).fit(z, y)
    x = _log_odds_ref(z)
    bins = np.array_split(np.argsort(x, kind="stable"), 5)  # equal-count bins (no ties here)
    for b, idx in enumerate(bins):

        def nll(u, idx=idx):
            return ref_nll(ref_softmax(z[idx] / np.exp(u)), y[idx])

        u_ref = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20)), method="bounded").x
        np.testing.assert_allclose(bts.log_temperatures_[b], u_ref, atol=1e-3)
        np.testing.assert_allclose(
            bts.predict_proba(z[idx]), ref_softmax(z[idx] / np.exp(u_ref)), atol=1e-3
        )


def test_cv_rule_keeps_the_simplest_pair_within_cv_se_errors():
    rng = np.random.default_rng(9)
    z, y = confidence_dependent_data(1000, 5, rng)
    for cv_se in (0.0, 2.0, 1e6):
        ats = get_calibrator("ats", cv_se=cv_se, cv_metric="nll").fit(z, y)
        rows = ats.cv_scores_
        best = min(r["score"] for r in rows)
        ok = [r for r in rows if r["score"] - best <= cv_se * r["diff_se"]]
        assert (ats.n_pieces_, ats.shrinkage_) == (ok[0]["n_pieces"], ok[0]["shrinkage"])
    assert ats.n_pieces_ == 1  # a huge margin always keeps plain TS
