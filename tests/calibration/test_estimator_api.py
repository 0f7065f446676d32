"""The scikit-learn estimator API of every registered calibrator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from gencal import GencalInputError, NotFittedError
from gencal.calibration import get_calibrator, list_calibrators
from tests.calibration._ref import confidence_dependent_data, ref_nll, ref_softmax

ALL = list_calibrators()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    z, y = confidence_dependent_data(600, 4, rng)
    zt, yt = confidence_dependent_data(300, 4, rng)
    return z, y, zt, yt


@pytest.mark.parametrize("name", ALL)
def test_clone_and_set_params_round_trip(name, data):
    z, y, zt, _ = data
    cal = get_calibrator(name)
    params = cal.get_params(deep=True)
    assert params == cal.get_params(deep=False)
    assert params["inputs"] == "logits" and params["balanced"] is False
    twin = clone(cal)
    assert type(twin) is type(cal) and twin is not cal
    assert twin.get_params() == params
    # a fresh object configured through set_params equals the original
    fresh = type(cal)()
    assert fresh.set_params(**params) is fresh
    assert fresh.get_params() == params
    # a clone of a fitted calibrator is unfitted and refits to the same result
    cal.fit(z, y)
    again = clone(cal)
    with pytest.raises(NotFittedError):
        again.predict_proba(zt)
    np.testing.assert_allclose(again.fit(z, y).predict_proba(zt), cal.predict_proba(zt))
    with pytest.raises(GencalInputError, match=r"no hyperparameter 'not_a_param'.*valid: "):
        cal.set_params(not_a_param=1)


@pytest.mark.parametrize("name", ALL)
def test_predict_and_score(name, data):
    z, y, zt, yt = data
    cal = get_calibrator(name).fit(z, y)
    p = cal.predict_proba(zt)
    np.testing.assert_array_equal(cal.predict(zt), np.argmax(p, axis=1))
    pred_t = cal.predict(torch.tensor(zt))
    assert pred_t.dtype == torch.int64
    np.testing.assert_array_equal(pred_t.numpy(), np.argmax(p, axis=1))
    # score is the negative mean NLL (independent reference), and weighted with weights
    assert cal.score(zt, yt) == pytest.approx(-ref_nll(p, yt), rel=1e-9, abs=1e-9)
    w = np.where(yt == 0, 3.0, 1.0)
    rep = np.repeat(np.arange(len(yt)), w.astype(int))
    assert cal.score(zt, yt, sample_weight=w) == pytest.approx(-ref_nll(p[rep], yt[rep]), rel=1e-9)


@pytest.mark.parametrize(
    ("name", "hp", "words"),
    [
        ("ts", {"t_min": -1.0}, ["'t_min'", "a float in (0, inf)", "-1.0"]),
        ("ts", {"t_min": 5.0, "t_max": 1.0}, ["t_min < t_max"]),
        ("ts", {"solver": "adam"}, ["'solver'", "one of 'newton', 'brent'"]),
        ("ats", {"n_pieces": 0}, ["'n_pieces'", "an int in [1, inf)"]),
        ("ats", {"n_pieces": 2.5}, ["'n_pieces'", "an int"]),
        ("ats", {"objective": "brier"}, ["'objective'", "one of 'nll', 'ece'"]),
        ("ats", {"clip_slope": "yes"}, ["'clip_slope'", "a bool"]),
        ("ts_grid", {"temperatures": []}, ["'temperatures'", "non-empty list"]),
        ("dirichlet", {"cv_folds": 1}, ["'cv_folds'", "0 or an int in [2, inf)"]),
        ("histogram", {"strategy": "quantile"}, ["'strategy'", "'equal_width'"]),
        ("vector", {"reg": float("nan")}, ["'reg'"]),
    ],
)
def test_parameter_constraints(name, hp, words, data):
    z, y, _, _ = data
    with pytest.raises(GencalInputError) as err:
        get_calibrator(name, **hp)
    for w in words:
        assert w in str(err.value), str(err.value)
    # the same values set later are caught at fit
    cal = get_calibrator(name).set_params(**hp)
    with pytest.raises(GencalInputError, match=next(iter(hp))):
        cal.fit(z, y)


@pytest.mark.parametrize("name", ALL)
def test_common_parameter_constraints(name):
    with pytest.raises(GencalInputError, match=r"'inputs' must be one of 'logits', 'probs'"):
        get_calibrator(name, inputs="proba")
    with pytest.raises(GencalInputError, match=r"'balanced' must be a bool"):
        get_calibrator(name, balanced=1)


def test_cross_val_score_matches_manual_folds(data):
    z, y, _, _ = data
    folds = KFold(3, shuffle=True, random_state=0)
    got = cross_val_score(get_calibrator("ts"), z, y, cv=folds)
    want = []
    for tr, te in folds.split(z):
        t = get_calibrator("ts").fit(z[tr], y[tr]).temperature_
        want.append(-ref_nll(ref_softmax(z[te] / t), y[te]))
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_grid_search_over_a_hyperparameter(data):
    z, y, _, _ = data
    folds = KFold(3, shuffle=True, random_state=1)
    grid = {"shrinkage": [0.0, 1e6]}
    search = GridSearchCV(get_calibrator("ats", min_piece_size=20.0), grid, cv=folds).fit(z, y)
    scores = search.cv_results_["mean_test_score"]
    # reference: the same folds by hand
    for s, value in zip(scores, grid["shrinkage"], strict=True):
        manual = [
            get_calibrator("ats", min_piece_size=20.0, shrinkage=value)
            .fit(z[tr], y[tr])
            .score(z[te], y[te])
            for tr, te in folds.split(z)
        ]
        assert s == pytest.approx(np.mean(manual), rel=1e-9)
    assert search.best_params_["shrinkage"] == grid["shrinkage"][int(np.argmax(scores))]
    assert search.best_estimator_.is_fitted
