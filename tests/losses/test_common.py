"""Properties every loss shares: gradients, half precision, ignore_index, input errors, registry."""

from __future__ import annotations

import pytest
import torch

from gencal import GencalInputError
from gencal.losses import (
    AdaFocalLoss,
    CalibrationLoss,
    GenerativeCrossEntropyLoss,
    get_loss,
    list_losses,
    register_loss,
)

ALL = [
    "ce",
    "gce",
    "label_smoothing",
    "focal",
    "flsd53",
    "dual_focal",
    "adafocal",
    "mmce",
    "mdca",
    "brier",
    "mbls",
]


def _data(n=10, k=4, seed=0, dtype=torch.float64, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    x = scale * torch.randn(n, k, generator=g, dtype=dtype)
    y = torch.randint(0, k, (n,), generator=g)
    return x, y


def _make(name, **kw):
    if name == "mbls":
        kw.setdefault("margin", 1.0)  # make the hinge active on small random logits
    loss = get_loss(name, **kw)
    if name == "adafocal":
        loss.gammas = torch.tensor([-1.5] * 5 + [0.5] * 5 + [3.0] * 5, dtype=torch.float64)
    return loss


@pytest.mark.parametrize("name", ALL)
def test_gradcheck_float64(name):
    x, y = _data()
    y[2] = -100
    x.requires_grad_()
    loss_fn = _make(name)
    assert torch.autograd.gradcheck(lambda z: loss_fn(z, y), (x,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_give_finite_loss_and_grad(name, dtype):
    x, y = _data(n=64, k=10, dtype=torch.float32, scale=8.0)
    x = x.to(dtype).requires_grad_()
    loss_fn = _make(name)
    val = loss_fn(x, y)
    assert val.dtype == torch.float32 and torch.isfinite(val)
    val.backward()
    assert x.grad.dtype == dtype and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_ignore_index_equals_dropping_the_rows(name, reduction):
    x, y = _data(n=16, k=5, seed=3)
    y[[1, 4, 9]] = -100
    keep = y != -100
    a = _make(name, reduction=reduction)(x, y)
    b = _make(name, reduction=reduction)(x[keep], y[keep])
    torch.testing.assert_close(a, b)
    y7 = y.clone()
    y7[[1, 4, 9]] = 7
    c = _make(name, reduction=reduction, ignore_index=7)(x, y7)
    torch.testing.assert_close(c, b)


@pytest.mark.parametrize("name", ALL)
def test_all_ignored_batch_gives_zero_without_nan(name):
    x = torch.randn(5, 3, requires_grad=True)
    val = _make(name)(x, torch.full((5,), -100))
    val.backward()
    assert val.item() == 0.0 and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", ALL)
def test_parts_are_detached_and_recombine(name):
    x, y = _data(n=32, k=5, seed=4)
    loss_fn = _make(name)
    val = loss_fn(x.requires_grad_(), y)
    parts = loss_fn.parts
    assert parts and all(not p.requires_grad for p in parts.values())
    if len(parts) == 1:
        torch.testing.assert_close(next(iter(parts.values())), val.detach())
    weights = {
        "gce": {"ce": 1.0, "regulariser": loss_fn.__dict__.get("lam", 1.0)},
        "mmce": {"ce": 1.0, "mmce": getattr(loss_fn, "lam", 0.0)},
        "mdca": {"base": 1.0, "mdca": getattr(loss_fn, "beta", 0.0)},
        "mbls": {"ce": 1.0, "margin": getattr(loss_fn, "alpha", 0.0)},
        "label_smoothing": {
            "ce": 1 - getattr(loss_fn, "smoothing", 0.0),
            "uniform": getattr(loss_fn, "smoothing", 0.0),
        },
    }
    if name in weights:
        total = sum(w * parts[k] for k, w in weights[name].items())
        torch.testing.assert_close(total, val.detach())


def _set(x, i, j, value):
    x = x.clone()
    x[i, j] = value
    return x


def _label0(y, value):
    y = y.clone()
    y[0] = value
    return y


BAD_INPUTS = [
    ("nan", lambda x, y: (_set(x, 0, 1, float("nan")), y), "non-finite"),
    ("inf", lambda x, y: (_set(x, 2, 0, float("inf")), y), "non-finite"),
    ("label_too_big", lambda x, y: (x, _label0(y, 4)), "out of range"),
    ("label_negative", lambda x, y: (x, _label0(y, -1)), "out of range"),
    ("length_mismatch", lambda x, y: (x, y[:-1]), "does not match"),
    ("int_logits", lambda x, y: (x.long(), y), "floating"),
    ("float_labels", lambda x, y: (x, y.float()), "integer"),
    ("one_hot_labels", lambda x, y: (x, torch.nn.functional.one_hot(y, 4)), "shape"),
    ("1d_logits", lambda x, y: (x[:, 0], y), "shape"),
]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(("case", "mutate", "msg"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_raises_clear_error(name, case, mutate, msg):
    x, y = _data(n=6, k=4)
    bx, by = mutate(x, y)
    with pytest.raises(GencalInputError, match=msg):
        _make(name)(bx, by)


def test_validate_args_false_skips_value_checks_but_not_dtype():
    x, y = _data(n=6, k=4)
    x[0, 0] = float("nan")
    out = GenerativeCrossEntropyLoss(validate_args=False)(x, y)
    assert torch.isnan(out)
    with pytest.raises(GencalInputError, match="integer"):
        GenerativeCrossEntropyLoss(validate_args=False)(x, y.float())


@pytest.mark.parametrize("name", ALL)
def test_update_hook(name):
    loss_fn = _make(name)
    x, y = _data(n=40, k=4)
    before = {k: v.clone() for k, v in loss_fn.state_dict().items()}
    loss_fn.update(x, y)
    assert loss_fn.needs_update == (name == "adafocal")
    if name != "adafocal":
        after = loss_fn.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)


# ---------------------------------------------------------------- registry
def test_registry_names_and_classes():
    assert sorted(ALL) == list_losses()
    for name in ALL:
        loss = get_loss(name)
        assert isinstance(loss, CalibrationLoss) and loss.name == name
    assert isinstance(get_loss("AdaFocal"), AdaFocalLoss)
    assert get_loss("label-smoothing", smoothing=0.2).smoothing == 0.2
    assert get_loss("focal", gamma=2).gamma == 2.0


def test_registry_errors_name_the_problem():
    with pytest.raises(GencalInputError, match=r"unknown loss 'gencross'.*known losses: .*gce"):
        get_loss("gencross")
    with pytest.raises(TypeError, match=r"'gama'.*accepted: .*gamma"):
        get_loss("focal", gama=2.0)
    with pytest.raises(GencalInputError, match="reduction"):
        get_loss("ce", reduction="avg")
    with pytest.raises(ValueError, match="already taken"):

        @register_loss("gce")
        class Other(CalibrationLoss):
            pass

    with pytest.raises(TypeError, match="not a CalibrationLoss"):
        register_loss("thing")(dict)


def test_gce_name_is_generative_not_generalized():
    doc = GenerativeCrossEntropyLoss.__doc__
    assert "Generalized Cross Entropy" in doc and "not" in doc


@pytest.mark.parametrize("name", ["ce", "gce", "focal", "brier"])
def test_label_range_check_skips_ignored_rows_and_names_the_label(name):
    x, y = _data(n=8, k=4)
    y[[0, 5]] = 9  # ignore_index=9 is out of range itself: those rows must be skipped
    _make(name, ignore_index=9)(x, y)
    y[2] = 6
    with pytest.raises(GencalInputError, match=r"label 6 is out of range for 4 classes"):
        _make(name, ignore_index=9)(x, y)
    y[2], y[3] = 1, -3
    with pytest.raises(GencalInputError, match=r"label -3 is out of range"):
        _make(name, ignore_index=9)(x, y)
    y[:] = 9  # all ignored: nothing to range-check
    assert _make(name, ignore_index=9)(x, y).item() == 0.0
    x[1, 1] = float("nan")  # NaN is reported before the labels
    y[2] = 6
    with pytest.raises(GencalInputError, match=r"non-finite values \(1 NaN, 0 inf\)"):
        _make(name, ignore_index=9)(x, y)
