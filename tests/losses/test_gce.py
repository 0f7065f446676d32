"""GenerativeCrossEntropyLoss against a naive O(N^2) reference written from docs/method.md §1."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from gencal.losses import GenerativeCrossEntropyLoss, generative_cross_entropy, get_loss


def naive_gce(logits, target, lam=1.0, ignore_index=-100, reduction="mean"):
    """Per-sample -log q(y_i|x_i) + lam * log sum_j q(y_i|x_j) with an explicit [N, N] matrix."""
    valid = target != ignore_index
    z = logits[valid]
    y = target[valid]
    q = torch.exp(z) / torch.exp(z).sum(dim=1, keepdim=True)  # plain softmax, float64
    n = z.shape[0]
    if n == 0:
        per = logits.sum(dim=1)[valid]
    else:
        pair = q[:, y].T  # pair[i, j] = q(y_i | x_j), shape [n, n]
        per = -torch.log(q[torch.arange(n), y]) + lam * torch.log(pair.sum(dim=1))
    if reduction == "none":
        out = torch.zeros(logits.shape[0], dtype=logits.dtype)
        out[valid] = per
        return out + 0 * logits.sum()
    total = per.sum() + 0 * logits.sum()
    return total if reduction == "sum" else total / max(n, 1)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    n=st.integers(1, 512),
    k=st.sampled_from([1, 2, 3, 10, 1000]),
    lam=st.sampled_from([1.0, 0.5, 0.0, 2.0]),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    scale=st.sampled_from([0.1, 1.0, 10.0]),
    ignore_frac=st.sampled_from([0.0, 0.0, 0.3]),
    seed=st.integers(0, 2**31 - 1),
    implementation=st.sampled_from(["plain", "fused"]),
    device_like=st.booleans(),
)
@pytest.mark.filterwarnings("ignore:GenerativeCrossEntropyLoss.*unbounded below:UserWarning")
def test_matches_naive_reference_value_and_gradient(
    n, k, lam, reduction, scale, ignore_frac, seed, implementation, device_like
):
    g = torch.Generator().manual_seed(seed)
    logits = (scale * torch.randn(n, k, generator=g, dtype=torch.float64)).requires_grad_()
    target = torch.randint(0, k, (n,), generator=g)
    target[torch.rand(n, generator=g) < ignore_frac] = -100
    # device_like: validate_args=False leaves the count on the device, so that the masked
    # sync-free path runs even when no row is ignored (as on a GPU)
    loss_fn = GenerativeCrossEntropyLoss(
        lam=lam,
        reduction=reduction,
        implementation=implementation,
        validate_args=not device_like,
    )
    ours = loss_fn(logits, target)
    ref = naive_gce(logits, target, lam=lam, reduction=reduction)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)
    w = torch.randn(ours.shape, generator=g, dtype=torch.float64)
    (g_ours,) = torch.autograd.grad((ours * w).sum(), logits)
    (g_ref,) = torch.autograd.grad((ref * w).sum(), logits)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-9, atol=1e-12)


def test_equals_ce_plus_class_level_regulariser():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 7, generator=g, dtype=torch.float64)
    target = torch.randint(0, 5, (64,), generator=g)  # classes 5, 6 absent
    loss_fn = GenerativeCrossEntropyLoss()
    val = loss_fn(logits, target)
    ce = F.cross_entropy(logits, target)
    q = torch.softmax(logits, dim=1)
    reg = sum(
        (target == c).double().mean() * torch.log(q[:, c].sum())
        for c in range(7)
        if (target == c).any()
    )
    torch.testing.assert_close(val, ce + reg)
    torch.testing.assert_close(loss_fn.parts["ce"], ce)
    torch.testing.assert_close(loss_fn.parts["regulariser"], reg)
    # absent classes: changing their logits' share does not matter beyond the softmax
    assert get_loss("gce", lam=0.0)(logits, target).item() == pytest.approx(ce.item(), abs=1e-12)


def test_gradient_formula_from_method_md():
    g = torch.Generator().manual_seed(1)
    n, k = 16, 5
    logits = torch.randn(n, k, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, k, (n,), generator=g)
    GenerativeCrossEntropyLoss()(logits, target).backward()
    p = torch.softmax(logits.detach(), dim=1)
    onehot = F.one_hot(target, k).double()
    w = onehot.sum(0) / p.sum(0)
    expected = ((p - onehot) + p * (w - (p * w).sum(1, keepdim=True))) / n
    torch.testing.assert_close(logits.grad, expected)


def _gce(implementation="plain", **kw):
    return GenerativeCrossEntropyLoss(implementation=implementation, **kw)


IMPLEMENTATIONS = ["plain", "fused"]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_batch_of_one_is_exactly_zero_and_all_ignored_is_zero_with_grad(implementation):
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(1, 10, dtype=dtype, requires_grad=True)
        loss = _gce(implementation)(x, torch.tensor([3]))
        assert loss.item() == 0.0
        loss.backward()
        assert torch.isfinite(x.grad).all()
    x = torch.randn(6, 4, requires_grad=True)
    loss = _gce(implementation)(x, torch.full((6,), -100))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
    # one valid row among ignored ones also gives exactly zero
    y = torch.tensor([-100, 2, -100, -100, -100, -100])
    assert _gce(implementation)(x, y).item() == 0.0


def test_extreme_logits_stay_finite():
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0], [0.0, 0.0, 1e4]], requires_grad=True)
    loss = GenerativeCrossEntropyLoss()(x, torch.tensor([1, 0, 2]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()


# ---------------------------------------------------------------- EMA extension
def test_ema_momentum_zero_equals_batch_form_and_running_mass_tracks():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(32, 6, generator=g, dtype=torch.float64)
    target = torch.randint(0, 6, (32,), generator=g)
    ema0 = GenerativeCrossEntropyLoss(class_mass="ema", ema_momentum=0.0)
    torch.testing.assert_close(ema0(logits, target), GenerativeCrossEntropyLoss()(logits, target))
    torch.testing.assert_close(
        ema0.running_mass.double(), torch.softmax(logits, 1).mean(0), rtol=1e-6, atol=1e-7
    )


def test_ema_denominator_combines_running_estimate_and_current_batch():
    g = torch.Generator().manual_seed(3)
    mu = 0.8
    loss_fn = GenerativeCrossEntropyLoss(class_mass="ema", ema_momentum=mu)
    x1 = torch.randn(20, 4, generator=g, dtype=torch.float64)
    y1 = torch.randint(0, 4, (20,), generator=g)
    loss_fn(x1, y1)  # initialises the estimate with batch 1's mean mass
    m1 = torch.softmax(x1, 1).mean(0)
    x2 = torch.randn(10, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y2 = torch.randint(0, 4, (10,), generator=g)
    val = loss_fn(x2, y2)
    q2 = torch.softmax(x2, 1)
    m2 = mu * m1 + (1 - mu) * q2.mean(0)  # gradient flows through the current batch's share
    ref = (-torch.log(q2[torch.arange(10), y2]) + torch.log(10 * m2[y2])).mean()
    torch.testing.assert_close(val, ref)
    (ga,) = torch.autograd.grad(val, x2)
    (gb,) = torch.autograd.grad(ref, x2)
    torch.testing.assert_close(ga, gb)
    torch.testing.assert_close(loss_fn.running_mass.double(), m2.detach(), rtol=1e-6, atol=1e-7)
    # eval mode does not update the buffer; the state survives a state_dict round trip
    loss_fn.eval()
    before = loss_fn.running_mass.clone()
    loss_fn(x1, y1)
    assert torch.equal(before, loss_fn.running_mass)
    fresh = GenerativeCrossEntropyLoss(class_mass="ema", ema_momentum=mu)
    fresh.load_state_dict(loss_fn.state_dict())
    assert torch.equal(fresh.running_mass, before)


# ---------------------------------------------------------------- strict properness
def _population_risk(q: np.ndarray, w: np.ndarray, eta: np.ndarray, lam: float = 1.0) -> float:
    """R(q) = -sum_k pi_k E_{x|k} log q_k(x) + lam * sum_k pi_k log E_x q_k(x) (docs/method.md)."""
    joint = w[:, None] * eta  # p(x, k)
    pi = joint.sum(0)
    ce = -(joint * np.log(q)).sum()
    reg = (pi * np.log((w[:, None] * q).sum(0))).sum()
    return float(ce + lam * reg)


def _batch_from_counts(counts: np.ndarray):
    """A batch whose empirical distribution is the population: input m with label k, counts[m, k] times."""
    xs, ys = [], []
    for m in range(counts.shape[0]):
        for k in range(counts.shape[1]):
            xs += [m] * int(counts[m, k])
            ys += [k] * int(counts[m, k])
    return torch.tensor(xs), torch.tensor(ys)


def _minimise_gce(counts: np.ndarray, lam: float, seed: int) -> np.ndarray:
    xs, ys = _batch_from_counts(counts)
    m, k = counts.shape
    loss_fn = GenerativeCrossEntropyLoss(lam=lam)

    def fun(flat):
        z = torch.tensor(flat.reshape(m, k), dtype=torch.float64, requires_grad=True)
        val = loss_fn(z[xs], ys)
        (grad,) = torch.autograd.grad(val, z)
        return val.item(), grad.numpy().ravel()

    z0 = np.random.default_rng(seed).normal(size=m * k)
    res = minimize(
        fun,
        z0,
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 5000},
    )
    return torch.softmax(torch.tensor(res.x.reshape(m, k)), 1).numpy()


@pytest.mark.parametrize("lam", [1.0, 0.5])
def test_strictly_proper_when_posteriors_are_linearly_independent(lam):
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 8, size=(5, 3))
    w = counts.sum(1) / counts.sum()
    eta = counts / counts.sum(1, keepdims=True)
    assert np.linalg.matrix_rank(eta) == 3  # completeness: eta_1..eta_K independent over x
    for seed in range(2):
        q = _minimise_gce(counts, lam, seed)
        np.testing.assert_allclose(q, eta, atol=1e-4)
    # our batch loss on the population batch is the population risk
    xs, ys = _batch_from_counts(counts)
    q_rand = rng.dirichlet(np.ones(3), size=5)
    ours = GenerativeCrossEntropyLoss(lam=lam)(torch.tensor(np.log(q_rand))[xs], ys).item()
    assert ours == pytest.approx(
        _population_risk(q_rand, w, eta, lam) + lam * math.log(len(ys)), abs=1e-10
    )
    assert _population_risk(eta, w, eta, lam) < _population_risk(q_rand, w, eta, lam)


def test_not_identifiable_when_two_posteriors_are_proportional():
    # column 1 = 2 x column 0 at every input: eta_1 = 2 eta_0, completeness fails
    c0 = np.array([1, 2, 1, 3, 2])
    counts = np.stack([c0, 2 * c0, np.array([4, 1, 6, 2, 3])], axis=1)
    w = counts.sum(1) / counts.sum()
    eta = counts / counts.sum(1, keepdims=True)
    t = 0.3
    other = eta.copy()
    other[:, 0] = (1 + t) * eta[:, 0]  # still proportional to eta_0
    other[:, 1] = eta[:, 1] - t * eta[:, 0]  # = (1 - t/2) eta_1, still proportional to eta_1
    np.testing.assert_allclose(other.sum(1), 1.0)
    assert (other > 0).all() and np.abs(other - eta).max() > 0.05
    assert _population_risk(other, w, eta) == pytest.approx(
        _population_risk(eta, w, eta), abs=1e-12
    )
    xs, ys = _batch_from_counts(counts)
    loss_fn = GenerativeCrossEntropyLoss()
    r_eta = loss_fn(torch.tensor(np.log(eta))[xs], ys).item()
    r_other = loss_fn(torch.tensor(np.log(other))[xs], ys).item()
    assert r_other == pytest.approx(r_eta, abs=1e-12)
    # and the minimum over all predictors is no lower than this common value
    q = _minimise_gce(counts, 1.0, 0)
    assert loss_fn(torch.tensor(np.log(q))[xs], ys).item() == pytest.approx(r_eta, abs=1e-9)


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(7, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 1, 3, -100, 0, 2])
    for mass in ("batch", "ema"):
        loss_fn = GenerativeCrossEntropyLoss(class_mass=mass).eval()
        if mass == "ema":
            loss_fn.train()(x.detach(), y)
            loss_fn.eval()
        assert torch.autograd.gradcheck(lambda z, f=loss_fn: f(z, y), (x,))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_fused_backward_equals_autograd_path(reduction):
    g = torch.Generator().manual_seed(6)
    x = 3 * torch.randn(40, 12, generator=g, dtype=torch.float64)
    y = torch.randint(0, 12, (40,), generator=g)
    y[::7] = -100
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    a = _gce("fused", lam=0.7, reduction=reduction)(xa, y)
    b = _gce("plain", lam=0.7, reduction=reduction)(xb, y)
    torch.testing.assert_close(a, b)
    w = torch.randn(a.shape, generator=g, dtype=torch.float64)
    (a * w).sum().backward()
    (b * w).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad)


def test_unfused_path_supports_double_backward():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(6, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 1, -100, 3, 0])
    loss_fn = GenerativeCrossEntropyLoss(implementation="plain")
    assert torch.autograd.gradcheck(lambda z: loss_fn(z, y), (x,))
    assert torch.autograd.gradgradcheck(lambda z: loss_fn(z, y), (x,))


@pytest.mark.parametrize("ignore", [False, True])
def test_underflowing_class_mass_falls_back_to_log_space(ignore):
    # class 1 gets probability ~e^-200 on every sample (0 in float32) and is a label
    g = torch.Generator().manual_seed(8)
    x64 = torch.randn(9, 4, generator=g, dtype=torch.float64)
    x64[:, 1] -= 200.0
    y = torch.tensor([1, 0, 2, 3, 0, 2, 1, 3, 0])
    if ignore:
        y[4] = -100
    x32 = x64.float().requires_grad_()
    xr = x64.clone().requires_grad_()
    val = GenerativeCrossEntropyLoss()(x32, y)
    ref = GenerativeCrossEntropyLoss(implementation="plain")(xr, y)  # float64 autograd path
    assert torch.isfinite(val)
    assert val.item() == pytest.approx(ref.item(), rel=1e-5)
    val.backward()
    ref.backward()
    torch.testing.assert_close(x32.grad.double(), xr.grad, rtol=1e-4, atol=1e-6)


def _naive64(x, y, lam=1.0, reduction="mean"):
    xr = x.detach().double().requires_grad_()
    ref = naive_gce(xr, y, lam=lam, reduction=reduction)
    (g,) = torch.autograd.grad((ref * torch.ones_like(ref)).sum(), xr)
    return ref.detach(), g


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("shift", [30.0, 90.0, 200.0, 1e4])
def test_float32_extreme_logits_match_float64_reference(validate, shift, implementation):
    # per-class shifts push whole columns far below the others: q(k|x) of those classes is
    # below float32's range on every sample (the old single-softmax path had to fall back)
    g = torch.Generator().manual_seed(int(shift))
    x64 = torch.randn(24, 6, generator=g, dtype=torch.float64)
    x64[:, 1] -= shift
    x64[:, 4] -= shift / 2
    x64[5, 3] += shift  # one sample very confident in class 3
    y = torch.tensor([1, 4, 0, 3, 2, 5] * 4)
    y[7] = -100
    x32 = x64.float().requires_grad_()
    val = _gce(implementation, validate_args=validate)(x32, y)
    val.backward()
    ref, g_ref = _naive64(x32, y)  # naive float64 on the same (rounded) inputs
    if shift <= 90.0:  # the naive float64 softmax is still exact here
        assert val.item() == pytest.approx(ref.item(), rel=1e-5)
        torch.testing.assert_close(x32.grad.double(), g_ref, rtol=1e-4, atol=1e-7)
    # at any shift: equal to the float64 log-space autograd path
    xr = x32.detach().double().requires_grad_()
    ref2 = GenerativeCrossEntropyLoss(implementation="plain")(xr, y)
    ref2.backward()
    # float32 logits of size 1e4 carry an absolute rounding error of ~5e-4 (half an ulp)
    rtol, atol = (1e-4, 1e-7) if shift <= 200.0 else (2e-3, 2e-5)
    assert torch.isfinite(val) and val.item() == pytest.approx(ref2.item(), rel=10 * rtol)
    torch.testing.assert_close(x32.grad.double(), xr.grad, rtol=rtol, atol=atol)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_validate_args_false_path_equals_validated_path(reduction, implementation):
    g = torch.Generator().manual_seed(11)
    x = 4 * torch.randn(30, 7, generator=g, dtype=torch.float64)
    y = torch.randint(0, 7, (30,), generator=g)
    y[::5] = -100
    outs = []
    for validate in (True, False):
        xv = x.clone().requires_grad_()
        loss_fn = _gce(implementation, lam=0.8, reduction=reduction, validate_args=validate)
        out = loss_fn(xv, y)
        (out * torch.linspace(0.5, 1.5, out.numel()).view(out.shape).double()).sum().backward()
        outs.append((out.detach(), xv.grad, loss_fn.parts))
    ref = naive_gce(x, y, lam=0.8, reduction=reduction)
    for out, _, _ in outs:
        torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(outs[0][1], outs[1][1], rtol=1e-12, atol=1e-14)
    for key in ("ce", "regulariser"):
        torch.testing.assert_close(outs[0][2][key], outs[1][2][key])


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_validate_args_false_makes_no_host_sync(monkeypatch, implementation):
    # every way a tensor value reaches Python: item, tolist, bool/int/float/index, numpy
    def boom(*args, **kwargs):
        raise AssertionError("host sync")

    g = torch.Generator().manual_seed(12)
    x = 50 * torch.randn(40, 9, generator=g)
    x[:, 2] -= 300.0
    y = torch.randint(0, 9, (40,), generator=g)
    y[3] = -100
    for reduction in ("mean", "sum", "none"):
        loss_fn = _gce(implementation, reduction=reduction, validate_args=False)
        xv = x.clone().requires_grad_()
        with monkeypatch.context() as m:
            for attr in (
                "item",
                "tolist",
                "__bool__",
                "__int__",
                "__float__",
                "__index__",
                "numpy",
            ):
                m.setattr(torch.Tensor, attr, boom)
            out = loss_fn(xv, y)
            out.sum().backward()
        assert torch.isfinite(out).all() and torch.isfinite(xv.grad).all()


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("device_like", [False, True])
def test_reduction_none_gives_positive_zero_on_ignored_rows(implementation, device_like):
    # the masked paths mask by arithmetic; the returned vectors still hold +0.0 (not -0.0)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(6, 4, generator=g)
    y = torch.tensor([0, -100, 3, 1, -100, 2])
    loss_fn = _gce(implementation, reduction="none", validate_args=not device_like)
    out = loss_fn(x, y)
    for v in (out, loss_fn.parts["ce"], loss_fn.parts["regulariser"]):
        assert v[1].item() == 0.0 and v[4].item() == 0.0
        assert not torch.signbit(v[[1, 4]]).any()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_functional_equals_module_value_and_gradient(reduction, implementation):
    g = torch.Generator().manual_seed(13)
    x = 2 * torch.randn(50, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 6, (50,), generator=g)
    y[::9] = -100
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    a = generative_cross_entropy(xa, y, lam=0.6, reduction=reduction)
    b = _gce(implementation, lam=0.6, reduction=reduction)(xb, y)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(a, naive_gce(x, y, lam=0.6, reduction=reduction))
    w = torch.randn(a.shape, generator=g, dtype=torch.float64)
    (a * w).sum().backward()
    (b * w).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-12, atol=1e-12)


def test_functional_supports_double_backward_and_ignore_index():
    g = torch.Generator().manual_seed(14)
    x = torch.randn(6, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 1, 7, 3, 0])
    assert torch.autograd.gradgradcheck(
        lambda z: generative_cross_entropy(z, y, ignore_index=7), (x,)
    )
    ref = naive_gce(x.detach(), y, ignore_index=7)
    torch.testing.assert_close(generative_cross_entropy(x, y, ignore_index=7).detach(), ref)


def test_implementation_switch_is_checked():
    with pytest.raises(ValueError, match="implementation"):
        GenerativeCrossEntropyLoss(implementation="fast")


def test_lam_above_one_is_unbounded_below_and_warned():
    """All mass moved to one class: the loss falls without end for lam > 1, stays put for lam <= 1."""
    labels = torch.tensor([0, 1, 2, 2])

    def value(lam: float, t: float) -> float:
        logits = torch.zeros(4, 3)
        logits[:, 2] = t  # every sample puts mass ~exp(-t) on classes 0 and 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return GenerativeCrossEntropyLoss(lam=lam)(logits, labels).item()

    assert value(2.0, 40.0) < value(2.0, 10.0) - 10.0
    assert value(1.0, 40.0) == pytest.approx(value(1.0, 10.0), abs=1e-3)
    assert value(0.5, 40.0) > value(0.5, 10.0)
    with pytest.warns(UserWarning, match="unbounded below"):
        GenerativeCrossEntropyLoss(lam=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GenerativeCrossEntropyLoss(lam=1.0)
        GenerativeCrossEntropyLoss(lam=0.0)
