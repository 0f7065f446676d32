"""Post-hoc logit adjustment (la): a known tau * log(prior) shift is recovered, the balanced
problem's argmax comes back, and la with then=ts is ts applied to la's output."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from gencal._checks import GencalInputError
from gencal.calibration import class_balanced_weights, get_calibrator, load_calibrator
from tests.calibration._ref import ref_nll

K = 5
PRIOR = np.array([0.55, 0.25, 0.12, 0.05, 0.03])


def _long_tailed(n, rng, prior=PRIOR):
    """Labels y ~ prior, features x | y shared with the balanced problem; returns the balanced
    posterior's logits (Bayes-optimal for balanced test data) and the labels."""
    y = rng.choice(K, size=n, p=prior)
    mu = 1.6 * np.eye(K)
    x = mu[y] + rng.normal(size=(n, K))
    return x @ mu.T, y


def _balanced_accuracy(pred, y):
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


@pytest.mark.parametrize("tau0", [0.7, 1.5])
def test_recovers_a_known_shift_and_the_balanced_argmax(tau0):
    rng = np.random.default_rng(int(10 * tau0))
    z_bal, y = _long_tailed(20_000, rng)
    counts = np.round(PRIOR * 10_000).astype(int)
    z = z_bal + tau0 * np.log(PRIOR)  # a model that learnt the training prior tau0 times
    la = get_calibrator("la", class_counts=counts.tolist()).fit(z, y)
    assert abs(la.tau_ - tau0) < 0.08, la.tau_
    assert la.prior_source_ == "class_counts"
    zt_bal, yt = _long_tailed(20_000, rng, prior=np.full(K, 1 / K))  # balanced test set
    pred = la.predict_proba(zt_bal + tau0 * np.log(PRIOR)).argmax(1)
    agree = np.mean(pred == zt_bal.argmax(1))
    assert agree > 0.97
    assert _balanced_accuracy(pred, yt) > _balanced_accuracy(
        (zt_bal + tau0 * np.log(PRIOR)).argmax(1), yt
    )


def test_prior_from_the_calibration_split_when_none_given():
    rng = np.random.default_rng(3)
    z_bal, y = _long_tailed(20_000, rng)
    la = get_calibrator("la").fit(z_bal + np.log(PRIOR), y)
    assert la.prior_source_ == "calibration_split"
    np.testing.assert_allclose(np.exp(la.log_prior_), np.bincount(y) / len(y))
    assert abs(la.tau_ - 1.0) < 0.1


def test_fitted_tau_minimises_the_class_balanced_nll():
    rng = np.random.default_rng(4)
    z_bal, y = _long_tailed(4000, rng)
    z = z_bal + 1.2 * np.log(PRIOR)
    la = get_calibrator("la", prior=PRIOR.tolist()).fit(z, y)
    w = 1.0 / np.bincount(y)[y]  # independent class-balanced weights

    def bal_nll(t):
        a = z - t * np.log(PRIOR)
        nll = logsumexp(a, axis=1) - a[np.arange(len(y)), y]
        return float(np.sum(w * nll) / w.sum())

    grid = np.linspace(0.5, 2.0, 1501)
    assert abs(la.tau_ - grid[int(np.argmin([bal_nll(t) for t in grid]))]) < 2e-3


def test_la_then_ts_is_ts_on_la_output(tmp_path):
    rng = np.random.default_rng(5)
    z_bal, y = _long_tailed(3000, rng)
    z = 2.5 * (z_bal + np.log(PRIOR))  # over-confident as well as prior-shifted
    zt = 2.5 * (_long_tailed(1000, rng)[0] + np.log(PRIOR))
    la = get_calibrator("la", class_counts=[550, 250, 120, 50, 30]).fit(z, y)
    ts = get_calibrator("ts").fit(la.adjust(z), y)
    chain = get_calibrator("la", class_counts=[550, 250, 120, 50, 30], then="ts").fit(z, y)
    np.testing.assert_allclose(chain.tau_, la.tau_)
    np.testing.assert_allclose(chain.predict_proba(zt), ts.predict_proba(la.adjust(zt)), atol=1e-12)
    assert ref_nll(chain.predict_proba(z), y) < ref_nll(la.predict_proba(z), y)
    back = load_calibrator(chain.save(tmp_path / "la.json"))
    np.testing.assert_allclose(back.predict_proba(zt), chain.predict_proba(zt), rtol=1e-12)
    ats = get_calibrator("la", then={"name": "ats", "n_pieces": 2, "shrinkage": 10}).fit(z, y)
    assert ats.then_.n_pieces_ == 2


def test_fixed_tau_and_bad_priors():
    z = np.random.default_rng(6).normal(size=(50, 3))
    y = np.arange(50) % 3
    la = get_calibrator("la", tau=1.0, prior=[0.5, 0.3, 0.2]).fit(z, y)
    np.testing.assert_allclose(la.transform(z), z - np.log([0.5, 0.3, 0.2]))
    with pytest.raises(GencalInputError, match="class_counts"):
        get_calibrator("la", class_counts=[10, 0, 3])
    with pytest.raises(GencalInputError, match="K=3"):
        get_calibrator("la", class_counts=[10, 5, 3, 2]).fit(z, y)
    with pytest.raises(GencalInputError, match="unknown calibrator"):
        get_calibrator("la", then="nope")


def test_class_balanced_weights_do_not_flatten_the_split_prior():
    rng = np.random.default_rng(7)
    z_bal, y = _long_tailed(8000, rng)
    z = z_bal + np.log(PRIOR)
    plain = get_calibrator("la").fit(z, y)
    weighted = get_calibrator("la").fit(z, y, sample_weight=class_balanced_weights(y))
    np.testing.assert_allclose(weighted.log_prior_, plain.log_prior_)
    np.testing.assert_allclose(weighted.tau_, plain.tau_, atol=1e-5)  # tau is fitted balanced
    assert abs(weighted.tau_ - 1.0) < 0.15
