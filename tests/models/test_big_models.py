"""ResNet-18/34/50 (CIFAR stem), WideResNets and DenseNet-121.

Expected parameter counts come from layer-by-layer formulas written here, and are checked
against the literature: kuangliu/pytorch-cifar and the focal-calibration repository (ResNet-18
11.17M, ResNet-50 23.52M, DenseNet-121 6.96M), Zagoruyko & Komodakis 2016 Table (WRN-28-10
36.5M, WRN-16-4 2.7M).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gencal.models import get_model, list_models

torch.set_num_threads(1)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv(cin: int, cout: int, k: int = 3) -> int:
    return cin * cout * k * k  # all convolutions are bias-free


def bn(c: int) -> int:
    return 2 * c


def linear(din: int, dout: int) -> int:
    return din * dout + dout


def resnet_stem_formula(
    bottleneck: bool, blocks: tuple[int, ...], k: int = 10, cin: int = 3
) -> int:
    total = conv(cin, 64) + bn(64)
    prev = 64
    for stage, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks)):
        out = planes * (4 if bottleneck else 1)
        for j in range(n):
            stride = 2 if stage > 0 and j == 0 else 1
            if bottleneck:
                total += conv(prev, planes, 1) + bn(planes) + conv(planes, planes) + bn(planes)
                total += conv(planes, out, 1) + bn(out)
            else:
                total += conv(prev, planes) + bn(planes) + conv(planes, planes) + bn(planes)
            if stride != 1 or prev != out:
                total += conv(prev, out, 1) + bn(out)
            prev = out
    return total + linear(prev, k)


def wrn_formula(depth: int, widen: int, k: int = 10, cin: int = 3, post_act: bool = False) -> int:
    """Pre-activation WRN (depth 6n+4) or the post-activation variant (depth 6n+2)."""
    n = (depth - 2) // 6 if post_act else (depth - 4) // 6
    total = conv(cin, 16) + (bn(16) if post_act else 0)
    prev = 16
    for planes in (16 * widen, 32 * widen, 64 * widen):
        for _ in range(n):
            total += conv(prev, planes) + conv(planes, planes)
            # pre-act: BN(in) and BN(mid); post-act: BN after each conv
            total += bn(planes) + bn(planes) if post_act else bn(prev) + bn(planes)
            if prev != planes:  # every group starts with a width change here
                total += conv(prev, planes, 1) + (bn(planes) if post_act else 0)
            prev = planes
    if not post_act:
        total += bn(prev)
    return total + linear(prev, k)


def densenet_formula(blocks=(6, 12, 24, 16), g: int = 32, k: int = 10, cin: int = 3) -> int:
    c = 2 * g
    total = conv(cin, c)
    for i, n in enumerate(blocks):
        for _ in range(n):
            total += bn(c) + conv(c, 4 * g, 1) + bn(4 * g) + conv(4 * g, g)
            c += g
        if i < len(blocks) - 1:
            out = math.floor(c * 0.5)
            total += bn(c) + conv(c, out, 1)
            c = out
    return total + bn(c) + linear(c, k)


def test_resnet18_and_50_param_counts():
    assert n_params(get_model("resnet18")) == resnet_stem_formula(False, (2, 2, 2, 2))
    assert n_params(get_model("resnet34")) == resnet_stem_formula(False, (3, 4, 6, 3))
    assert n_params(get_model("resnet50")) == resnet_stem_formula(True, (3, 4, 6, 3))
    # the literature values (kuangliu/pytorch-cifar, focal_calibration)
    assert resnet_stem_formula(False, (2, 2, 2, 2)) == 11_173_962
    assert resnet_stem_formula(True, (3, 4, 6, 3)) == 23_520_842
    m = get_model("resnet50", num_classes=100, in_channels=1)
    assert n_params(m) == resnet_stem_formula(True, (3, 4, 6, 3), 100, 1)


def test_resnet110_focal_param_count():
    assert n_params(get_model("resnet110_focal")) == resnet_stem_formula(True, (3, 4, 26, 3))


def test_wrn_param_counts():
    assert n_params(get_model("wrn28_10")) == wrn_formula(28, 10)
    assert round(wrn_formula(28, 10) / 1e6, 1) == 36.5  # Zagoruyko & Komodakis, Table 4
    assert n_params(get_model("wrn16_4")) == wrn_formula(16, 4)
    assert round(wrn_formula(16, 4) / 1e6, 1) == 2.7
    # WRN-26-10 of the focal-calibration repository: post-activation, (26 - 2) / 6 = 4 blocks
    assert n_params(get_model("wrn26_10")) == wrn_formula(26, 10, post_act=True)
    assert wrn_formula(26, 10, post_act=True) == 36_481_434
    assert n_params(get_model("wrn26_10", num_classes=100, in_channels=1)) == wrn_formula(
        26, 10, 100, 1, post_act=True
    )


def test_densenet121_param_count():
    assert n_params(get_model("densenet121")) == densenet_formula()
    assert round(densenet_formula() / 1e6, 2) == 6.96  # kuangliu / focal_calibration
    assert n_params(get_model("densenet121", num_classes=100, in_channels=1)) == densenet_formula(
        k=100, cin=1
    )


def test_wrn_dropout_only_in_training():
    torch.manual_seed(0)
    from gencal.models import WideResNet

    m = WideResNet(10, 1, num_classes=3, drop_rate=0.5)
    x = torch.randn(2, 3, 16, 16)
    m.eval()
    torch.testing.assert_close(m(x), m(x))
    m.train()
    torch.manual_seed(1)
    a = m(x)
    torch.manual_seed(2)
    b = m(x)
    assert not torch.allclose(a, b)


def test_bad_depths_are_rejected():
    from gencal.models import CifarResNet, WideResNet, WideResNetPostAct

    with pytest.raises(ValueError, match="depth"):
        WideResNet(26, 10)
    with pytest.raises(ValueError, match="depth"):
        WideResNetPostAct(28, 10)
    with pytest.raises(ValueError, match="depth"):
        CifarResNet(21)


def forward_backward(name: str, cin: int = 3, size: int = 32, k: int = 4) -> None:
    torch.manual_seed(0)
    model = get_model(name, num_classes=k, in_channels=cin).train()
    x = torch.randn(2, cin, size, size).contiguous(memory_format=torch.channels_last)
    model = model.to(memory_format=torch.channels_last)
    logits = model(x)
    assert logits.shape == (2, k) and torch.isfinite(logits).all()
    nn.functional.cross_entropy(logits, torch.tensor([0, k - 1])).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.fc.weight.grad.abs().sum() > 0


def test_forward_backward_resnet18_in_channels_1():
    forward_backward("resnet18", cin=1)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    ["resnet34", "resnet50", "resnet110_focal", "wrn16_4", "wrn26_10", "wrn28_10", "densenet121"],
)
def test_forward_backward_big(name):
    forward_backward(name)


def test_every_registered_model_is_covered():
    covered = {
        "resnet20", "resnet32", "resnet56", "resnet110", "cnn8", "cnn28", "cnn32", "mlp",
        "resnet18", "resnet34", "resnet50", "resnet110_focal", "wrn16_4", "wrn26_10",
        "wrn28_10", "densenet121",
    }  # fmt: skip
    assert set(list_models()) == covered


@pytest.mark.parametrize(
    ("name", "get_weight", "fan_out"),
    [
        ("wrn16_4", lambda m: m.blocks[-1].conv2.weight, 9 * 256),
        ("densenet121", lambda m: m.features[-1].conv2.weight, 9 * 32),
        ("resnet18", lambda m: m.layer4[-1].conv2.weight, 9 * 512),
    ],
)
def test_he_fan_out_init(name, get_weight, fan_out):
    torch.manual_seed(0)
    w = get_weight(get_model(name))
    expected = (2 / fan_out) ** 0.5
    assert abs(w.std().item() - expected) < 0.05 * expected
    assert abs(w.mean().item()) < 0.05 * expected
