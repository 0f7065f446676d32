"""Vector scaling, Dirichlet (ODIR), isotonic and histogram binning against independent fits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.isotonic import IsotonicRegression

from gencal.calibration import get_calibrator
from tests.calibration._ref import confidence_dependent_data, ref_nll, ref_softmax


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(99)
    z, y = confidence_dependent_data(1500, 4, rng)
    zt, yt = confidence_dependent_data(500, 4, rng)
    return z, y, zt, yt


def _torch_fit(params, make_logits, penalty, y, steps=200):
    """Independent reference: torch autograd + torch.optim.LBFGS on the mean NLL."""
    opt = torch.optim.LBFGS(
        params,
        lr=1,
        max_iter=steps,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
        history_size=50,
        line_search_fn="strong_wolfe",
    )
    yt = torch.tensor(y)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(make_logits(), yt) + penalty()
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    return make_logits


def test_vector_scaling_matches_torch_fit(data):
    z, y, zt, _ = data
    zz = torch.tensor(z)
    a = torch.ones(4, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    _torch_fit([a, b], lambda: zz * a + b, lambda: 0.0 * b.sum(), y)
    ref = ref_softmax(torch.tensor(zt).mul(a).add(b).detach().numpy())
    ours = get_calibrator("vector").fit(z, y).predict_proba(zt)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_dirichlet_odir_matches_torch_fit(data):
    z, y, zt, _ = data
    lam, mu, k = 0.5, 0.3, 4
    x = torch.log_softmax(torch.tensor(z), dim=1)
    wm = torch.eye(k, dtype=torch.float64).requires_grad_(True)
    b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    off = 1 - torch.eye(k, dtype=torch.float64)

    def penalty():
        return lam / (k * (k - 1)) * ((wm * off) ** 2).sum() + mu / k * (b**2).sum()

    _torch_fit([wm, b], lambda: x @ wm.T + b, penalty, y)
    xt = torch.log_softmax(torch.tensor(zt), dim=1)
    ref = ref_softmax((xt @ wm.T + b).detach().numpy())
    cal = get_calibrator("dirichlet", reg_lambda=lam, reg_mu=mu).fit(z, y)
    np.testing.assert_allclose(cal.predict_proba(zt), ref, atol=1e-5)


@pytest.mark.parametrize("name", ["vector", "dirichlet"])
def test_linear_calibrators_not_worse_than_ts_on_cal_split(name, data):
    z, y, _, _ = data
    ts = ref_nll(get_calibrator("ts").fit(z, y).predict_proba(z), y)
    ours = ref_nll(
        get_calibrator(name, **({"reg_lambda": 0, "reg_mu": 0} if name == "dirichlet" else {}))
        .fit(z, y)
        .predict_proba(z),
        y,
    )
    assert ours <= ts + 1e-9


def test_isotonic_matches_sklearn_and_keeps_ratios(data):
    z, y, zt, _ = data
    p = ref_softmax(z)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1)
    iso.fit(p.max(1), (p.argmax(1) == y).astype(float))
    pt = ref_softmax(zt)
    c_hat = np.clip(iso.predict(pt.max(1)), 1e-12, 1)
    ours = get_calibrator("isotonic").fit(z, y).predict_proba(zt)
    top = pt.argmax(1)
    rows = np.arange(len(zt))
    keep = (c_hat > 1e-9) & (c_hat < 1 - 1e-9)
    np.testing.assert_allclose(ours[rows, top][keep], c_hat[keep], atol=1e-9)
    # the other classes keep their ratios: p_k / p_j unchanged for k, j != top
    others_ours = ours.copy()
    others_ours[rows, top] = 0
    others_raw = pt.copy()
    others_raw[rows, top] = 0
    s_o, s_r = others_ours.sum(1, keepdims=True), others_raw.sum(1, keepdims=True)
    np.testing.assert_allclose((others_ours / s_o)[keep], (others_raw / s_r)[keep], atol=1e-6)


@pytest.mark.parametrize("strategy", ["equal_width", "equal_mass"])
def test_histogram_binning_reference(strategy, data):
    z, y, zt, _ = data
    p = ref_softmax(z)
    conf, correct = p.max(1), p.argmax(1) == y
    n_bins = 10
    if strategy == "equal_width":
        edges = np.linspace(0, 1, n_bins + 1)

        def bin_of(c):  # (lo, hi], 0 in the first bin
            return [max(0, int(np.ceil(v * n_bins)) - 1) for v in c]
    else:
        s = np.sort(conf)
        edges = s[[len(s) * j // n_bins - 1 for j in range(1, n_bins)]]

        def bin_of(c):
            return [int(np.sum(edges < v)) for v in c]

    b_cal = np.array(bin_of(conf))
    vals = {}
    for b in range(n_bins):
        m = b_cal == b
        vals[b] = correct[m].mean() if m.any() else (b + 0.5) / n_bins
    pt = ref_softmax(zt)
    expected = np.array([vals[b] for b in bin_of(pt.max(1))])
    cal = get_calibrator("histogram", n_bins=n_bins, strategy=strategy).fit(z, y)
    ours = cal.predict_proba(zt)[np.arange(len(zt)), pt.argmax(1)]
    keep = (expected > 1e-9) & (expected < 1 - 1e-9)
    np.testing.assert_allclose(ours[keep], expected[keep], atol=1e-9)
