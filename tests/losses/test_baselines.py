"""Baseline losses: reductions to CE, hand-computed values, AdaFocal's update rule."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gencal.losses import (
    AdaFocalLoss,
    BrierLoss,
    DualFocalLoss,
    FLSD53Loss,
    FocalLoss,
    LabelSmoothingLoss,
    MbLSLoss,
    MDCALoss,
    MMCELoss,
    get_loss,
)

# tiny example: probabilities chosen by hand, logits = log(probabilities)
P = [[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.1, 0.3, 0.6]]
Y = [0, 2, 0]  # correct, wrong (p_y=0.3), wrong (p_y=0.1)


def tiny():
    return torch.tensor(P, dtype=torch.float64).log(), torch.tensor(Y)


def _rand(n=24, k=6, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = 2 * torch.randn(n, k, generator=g, dtype=dtype)
    y = torch.randint(0, k, (n,), generator=g)
    return x, y


# ---------------------------------------------------------------- reduce to CE
CE_SPECIAL_CASES = [
    ("ce", {}),
    ("gce", {"lam": 0.0}),
    ("label_smoothing", {"smoothing": 0.0}),
    ("focal", {"gamma": 0.0}),
    ("flsd53", {"gammas": (0.0, 0.0)}),
    ("dual_focal", {"gamma": 0.0}),
    ("adafocal", {"gamma_initial": 0.0}),
    ("mmce", {"lam": 0.0}),
    ("mdca", {"beta": 0.0}),
    ("mbls", {"alpha": 0.0}),
]


@pytest.mark.parametrize(("name", "hp"), CE_SPECIAL_CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_reduces_to_cross_entropy(name, hp, reduction):
    x, y = _rand()
    y[3] = -100
    try:
        loss_fn = get_loss(name, reduction=reduction, **hp)
    except ValueError:
        assert reduction == "none" and name in ("mmce", "mdca")
        return
    xa = x.clone().requires_grad_()
    xb = x.clone().requires_grad_()
    ours = loss_fn(xa, y)
    ref = F.cross_entropy(xb, y, reduction=reduction)
    torch.testing.assert_close(ours, ref)
    w = torch.randn(ours.shape, dtype=torch.float64)
    (ours * w).sum().backward()
    (ref * w).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad)


# ---------------------------------------------------------------- hand-computed values
L = math.log


def test_focal_hand_values():
    x, y = tiny()
    exp = [-(0.3**2) * L(0.7), -(0.7**2) * L(0.3), -(0.9**2) * L(0.1)]
    out = FocalLoss(gamma=2.0, reduction="none")(x, y)
    torch.testing.assert_close(out, torch.tensor(exp, dtype=torch.float64))
    alpha = [0.25, 1.0, 2.0]
    out = FocalLoss(gamma=2.0, alpha=alpha, reduction="sum")(x, y)
    assert out.item() == pytest.approx(0.25 * exp[0] + 2.0 * exp[1] + 0.25 * exp[2], rel=1e-12)


def test_flsd53_hand_values_and_schedule():
    x, y = tiny()
    # p_y = 0.7 -> gamma 3, 0.3 -> 3, 0.1 -> 5
    exp = [-(0.3**3) * L(0.7), -(0.7**3) * L(0.3), -(0.9**5) * L(0.1)]
    loss_fn = FLSD53Loss(reduction="none")
    torch.testing.assert_close(loss_fn(x, y), torch.tensor(exp, dtype=torch.float64))
    g = loss_fn.sample_gamma(torch.tensor([0.0, 0.1999, 0.2, 0.5, 1.0]))
    assert g.tolist() == [5.0, 5.0, 3.0, 3.0, 3.0]
    g = FLSD53Loss(thresholds=(0.2, 0.5), gammas=(5.0, 3.0, 2.0)).sample_gamma(
        torch.tensor([0.1, 0.3, 0.6])
    )
    assert g.tolist() == [5.0, 3.0, 2.0]
    with pytest.raises(ValueError, match="gammas"):
        FLSD53Loss(thresholds=(0.2,), gammas=(5.0,))


def test_dual_focal_hand_values():
    x, y = tiny()
    # p_j below target: row0 (p_y .7) -> .2; row1 (p_y .3) -> .1; row2 (p_y .1, smallest) -> 0
    exp = [-(0.5**2) * L(0.7), -(0.8**2) * L(0.3), -(0.9**2) * L(0.1)]
    out = DualFocalLoss(gamma=2.0, reduction="none")(x, y)
    torch.testing.assert_close(out, torch.tensor(exp, dtype=torch.float64))
    # largest non-target probability: .2, .6, .6
    exp = [-(0.5**2) * L(0.7), -(1.3**2) * L(0.3), -(1.5**2) * L(0.1)]
    out = DualFocalLoss(gamma=2.0, p_j="max_non_target", reduction="none")(x, y)
    torch.testing.assert_close(out, torch.tensor(exp, dtype=torch.float64))


def test_label_smoothing_hand_values_and_torch_convention():
    x, y = tiny()
    eps = 0.1
    exp = []
    for row, t in zip(P, Y):
        exp.append((1 - eps) * -L(row[t]) + eps * sum(-L(p) for p in row) / 3)
    out = LabelSmoothingLoss(smoothing=eps, reduction="none")(x, y)
    torch.testing.assert_close(out, torch.tensor(exp, dtype=torch.float64))
    xr, yr = _rand()
    torch.testing.assert_close(
        LabelSmoothingLoss(smoothing=0.2)(xr, yr), F.cross_entropy(xr, yr, label_smoothing=0.2)
    )


def test_brier_hand_values():
    x, y = tiny()
    exp = [0.3**2 + 0.2**2 + 0.1**2, 0.1**2 + 0.6**2 + 0.7**2, 0.9**2 + 0.3**2 + 0.6**2]
    out = BrierLoss(reduction="none")(x, y)
    torch.testing.assert_close(out, torch.tensor(exp, dtype=torch.float64))
    assert BrierLoss()(x, y).item() == pytest.approx(sum(exp) / 3)


def test_mbls_hand_values():
    z = torch.tensor([[20.0, 5.0, 0.0], [1.0, 2.0, 3.0]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    ce = [
        -(20 - math.log(math.exp(20) + math.exp(5) + 1)),
        -(2 - math.log(math.e + math.e**2 + math.e**3)),
    ]
    # max - z = [0, 15, 20] -> relu(. - 10) = [0, 5, 10]; second row all distances < 10
    out = MbLSLoss(reduction="none")(z, y)
    torch.testing.assert_close(out, torch.tensor([ce[0] + 0.1 * 5.0, ce[1]], dtype=torch.float64))
    out = MbLSLoss(margin_reduction="sum", alpha=0.5, reduction="none")(z, y)
    torch.testing.assert_close(out, torch.tensor([ce[0] + 0.5 * 15.0, ce[1]], dtype=torch.float64))
    loss_fn = MbLSLoss()
    val = loss_fn(z, y)
    assert val.item() == pytest.approx(
        loss_fn.parts["ce"].item() + 0.1 * loss_fn.parts["margin"].item()
    )


def test_mdca_hand_values():
    x, y = tiny()
    # mean probs [0.3, 1.1/3, 1.0/3]; label frequencies [2/3, 0, 1/3]
    mdca = (abs(0.3 - 2 / 3) + abs(1.1 / 3 - 0) + abs(1.0 / 3 - 1 / 3)) / 3
    ce = (-L(0.7) - L(0.3) - L(0.1)) / 3
    loss_fn = MDCALoss(beta=2.0)
    assert loss_fn(x, y).item() == pytest.approx(ce + 2.0 * mdca, rel=1e-12)
    assert loss_fn.parts["mdca"].item() == pytest.approx(mdca, rel=1e-12)
    focal = (-(0.3**1) * L(0.7) - 0.7 * L(0.3) - 0.9 * L(0.1)) / 3
    assert MDCALoss(base="focal", gamma=1.0)(x, y).item() == pytest.approx(focal + mdca, rel=1e-12)
    assert MDCALoss(reduction="sum")(x, y).item() == pytest.approx(3 * (ce + mdca), rel=1e-12)


def _mmce_paper_loops(conf, correct, width=0.4):
    """Kumar et al.'s weighted MMCE written with explicit loops over pairs."""
    c_idx = [i for i in range(len(conf)) if correct[i]]
    w_idx = [i for i in range(len(conf)) if not correct[i]]
    m, n = len(c_idx), len(w_idx)
    if m == 0 or n == 0:
        return 0.0

    def k(a, b):
        return math.exp(-abs(a - b) / width)

    cc = sum((1 - conf[i]) * (1 - conf[j]) * k(conf[i], conf[j]) for i in c_idx for j in c_idx)
    ww = sum(conf[i] * conf[j] * k(conf[i], conf[j]) for i in w_idx for j in w_idx)
    cw = sum((1 - conf[i]) * conf[j] * k(conf[i], conf[j]) for i in c_idx for j in w_idx)
    return math.sqrt(cc / m**2 + ww / n**2 - 2 * cw / (m * n) + 1e-10)


def _mmce_reference_code(conf, correct, width=0.4):
    """The released code's normalisation: mean over the pair block, then divided by its size."""
    c = [r for r, ok in zip(conf, correct) if ok]
    w = [r for r, ok in zip(conf, correct) if not ok]
    m, n = len(c), len(w)
    if m == 0 or n == 0:
        return 0.0

    def block(a, b, fa, fb):
        vals = [fa(u) * fb(v) * math.exp(-abs(u - v) / width) for u in a for v in b]
        return sum(vals) / len(vals)

    err = block(c, c, lambda r: 1 - r, lambda r: 1 - r) / (m * m)
    err += block(w, w, lambda r: r, lambda r: r) / (n * n)
    err -= 2 * block(c, w, lambda r: 1 - r, lambda r: r) / (m * n)
    return math.sqrt(err + 1e-10)


@pytest.mark.parametrize("normalisation", ["paper", "reference"])
def test_mmce_matches_pairwise_loops(normalisation):
    x, y = _rand(n=20, k=4, seed=5)
    probs = torch.softmax(x, 1)
    conf, pred = probs.max(1)
    correct = (pred == y).tolist()
    assert 0 < sum(correct) < len(correct)
    ref_fn = _mmce_paper_loops if normalisation == "paper" else _mmce_reference_code
    ref = ref_fn(conf.tolist(), correct)
    loss_fn = MMCELoss(lam=2.0, normalisation=normalisation)
    val = loss_fn(x, y)
    assert loss_fn.parts["mmce"].item() == pytest.approx(ref, rel=1e-10)
    assert val.item() == pytest.approx(F.cross_entropy(x, y).item() + 2.0 * ref, rel=1e-10)
    # all correct -> the MMCE term is 0
    yy = pred.clone()
    loss_fn(x, yy)
    assert loss_fn.parts["mmce"].item() == 0.0


# ---------------------------------------------------------------- AdaFocal
def _val_set():
    confs = [0.55, 0.6, 0.7, 0.75, 0.9, 0.95]
    correct = [True, False, True, False, False, True]
    logits = torch.tensor([[math.log(c), math.log(1 - c)] for c in confs], dtype=torch.float64)
    labels = torch.tensor([0 if ok else 1 for ok in correct])
    return logits, labels


def test_adafocal_equal_mass_bins_and_gamma_rule():
    logits, labels = _val_set()
    loss_fn = AdaFocalLoss(num_bins=3)
    assert loss_fn.needs_update
    stats = loss_fn.bin_stats(logits, labels)
    # edges interpolated on the sorted confidences at positions 0, 2, 4, 6 (clamped to 5)
    torch.testing.assert_close(
        stats["edges"], torch.tensor([0.55, 0.7, 0.9, 0.95], dtype=torch.float64)
    )
    # bins (lower, upper]: {.55, .6, .7}, {.75, .9}, {.95}
    assert stats["count"].tolist() == [3.0, 2.0, 1.0]
    gaps = [(0.55 + 0.6 + 0.7) / 3 - 2 / 3, (0.75 + 0.9) / 2 - 0.0, 0.95 - 1.0]
    torch.testing.assert_close(stats["gap"], torch.tensor(gaps, dtype=torch.float64))

    # from gamma = 1 everywhere: gamma * exp(lam * gap)
    loss_fn.update(logits, labels)
    exp1 = [math.exp(g) for g in gaps]
    torch.testing.assert_close(loss_fn.gammas, torch.tensor(exp1, dtype=torch.float64))
    torch.testing.assert_close(loss_fn.inner_edges, torch.tensor([0.7, 0.9], dtype=torch.float64))

    # switching and clipping, lam = 2
    loss_fn = AdaFocalLoss(num_bins=3, lam=2.0, gamma_max=20.0, gamma_min=-2.0, switch_pt=0.2)
    loss_fn.gammas = torch.tensor([0.21, 15.0, -0.5], dtype=torch.float64)
    loss_fn.update(logits, labels)
    g0 = 0.21 * math.exp(2 * gaps[0])  # 0.19 < 0.2 -> switches to inverse focal: -0.2
    g1 = 15.0 * math.exp(2 * gaps[1])  # 78 -> clipped to 20
    g2 = -0.5 * math.exp(-2 * gaps[2])  # gamma <= 0 uses exp(-lam * gap): -0.553
    assert abs(g0) < 0.2 and g1 > 20
    torch.testing.assert_close(loss_fn.gammas, torch.tensor([-0.2, 20.0, g2], dtype=torch.float64))

    # a negative gamma that the rule pushes below gamma_min is clipped
    loss_fn.gammas = torch.tensor([1.0, 1.0, -1.9], dtype=torch.float64)
    worse = logits.clone()
    loss_fn.update(worse, 1 - labels)  # flip correctness: bin 3 now has gap +0.95
    assert loss_fn.gammas[2].item() == pytest.approx(max(-1.9 * math.exp(-2 * 0.95), -2.0))


def test_adafocal_training_loss_uses_bin_gamma():
    loss_fn = AdaFocalLoss(num_bins=3)
    loss_fn.gammas = torch.tensor([2.0, -0.5, 4.0], dtype=torch.float64)
    loss_fn.inner_edges = torch.tensor([0.3, 0.8], dtype=torch.float64)
    p = [0.1, 0.5, 0.9, 0.35, 0.85]  # bins 0, 1, 2, 1, 2
    x = torch.tensor([[math.log(q), math.log(1 - q)] for q in p], dtype=torch.float64)
    y = torch.zeros(5, dtype=torch.long)
    exp = [
        -((1 - 0.1) ** 2) * L(0.1),
        -((1 + 0.5) ** 0.5) * L(0.5),
        -((1 - 0.9) ** 4) * L(0.9),
        -((1 + 0.35) ** 0.5) * L(0.35),
        -((1 - 0.85) ** 4) * L(0.85),
    ]
    out = AdaFocalLoss(num_bins=3, reduction="none")
    out.load_state_dict(loss_fn.state_dict())
    torch.testing.assert_close(out(x, y), torch.tensor(exp, dtype=torch.float64))
    # bins are [lower, upper) during training, as in the reference code
    edge_vals = torch.tensor([0.0, 0.2999, 0.3, 0.7999, 0.8, 1.0], dtype=torch.float64)
    assert out.sample_gamma(edge_vals).tolist() == [2.0, 2.0, -0.5, -0.5, 4.0, 4.0]
    with pytest.raises(ValueError, match="val_logits"):
        loss_fn.update(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))


# ---------------------------------------------------------------- structure
@pytest.mark.parametrize("name", ["mmce", "mdca"])
def test_batch_level_losses_reject_reduction_none(name):
    with pytest.raises(ValueError, match="reduction"):
        get_loss(name, reduction="none")
