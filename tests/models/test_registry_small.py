"""Registry behaviour, the CIFAR ResNets and the small networks.

Expected parameter counts are computed here from independent formulas (layer by layer), and
checked against the values quoted in the literature (He et al. 2016, Table 6; akamaster's
pytorch_resnet_cifar10 README: 0.27M / 0.46M / 0.85M / 1.7M).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gencal import GencalInputError
from gencal.models import get_model, list_models

torch.set_num_threads(1)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv(cin: int, cout: int, k: int = 3, bias: bool = False) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def bn(c: int) -> int:
    return 2 * c


def linear(din: int, dout: int) -> int:
    return din * dout + dout


def cifar_resnet_formula(depth: int, k: int = 10, cin: int = 3) -> int:
    """He et al. ResNet-(6n+2) with option-A (parameter-free) shortcuts."""
    n = (depth - 2) // 6
    total = conv(cin, 16) + bn(16)
    prev = 16
    for planes in (16, 32, 64):
        for _ in range(n):
            total += conv(prev, planes) + bn(planes) + conv(planes, planes) + bn(planes)
            prev = planes
    return total + linear(64, k)


def test_list_models_contains_the_zoo():
    names = list_models()
    assert names == sorted(names)
    for name in ("resnet20", "resnet32", "resnet56", "resnet110", "cnn8", "cnn28", "cnn32", "mlp"):
        assert name in names


def test_unknown_model_lists_known_names():
    with pytest.raises(GencalInputError) as info:
        get_model("resnet21")
    msg = str(info.value)
    assert "resnet21" in msg
    for name in list_models():
        assert name in msg
    assert isinstance(info.value, ValueError)


def test_name_is_case_insensitive():
    assert n_params(get_model("ResNet20")) == n_params(get_model("resnet20"))


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_bad_num_classes_and_in_channels(bad):
    with pytest.raises(GencalInputError, match="num_classes"):
        get_model("cnn8", num_classes=bad)
    with pytest.raises(GencalInputError, match="in_channels"):
        get_model("cnn8", in_channels=bad)


def test_bad_keyword_is_a_clear_error():
    with pytest.raises(GencalInputError, match="resnet20"):
        get_model("resnet20", widen_factor=3)
    with pytest.raises(GencalInputError, match="drop_rate"):
        get_model("resnet20", drop_rate=0.3)  # only the pre-activation WRNs take drop_rate


def test_non_string_name():
    with pytest.raises(GencalInputError, match="name"):
        get_model(20)


@pytest.mark.parametrize(
    ("name", "depth", "literature_millions"),
    [
        ("resnet20", 20, 0.27),
        ("resnet32", 32, 0.46),
        ("resnet56", 56, 0.85),
        ("resnet110", 110, 1.7),
    ],
)
def test_cifar_resnet_param_counts(name, depth, literature_millions):
    model = get_model(name, num_classes=10)
    expected = cifar_resnet_formula(depth)
    assert n_params(model) == expected
    # the literature quotes the count rounded to 2 significant digits
    assert round(expected / 1e6, 2 if depth < 100 else 1) == literature_millions


def test_resnet20_exact_count_and_other_heads():
    assert n_params(get_model("resnet20")) == 269_722  # akamaster: 0.27M (269,722)
    assert n_params(get_model("resnet20", num_classes=100)) == cifar_resnet_formula(20, 100)
    assert n_params(get_model("resnet20", in_channels=1)) == cifar_resnet_formula(20, 10, 1)


def test_option_a_shortcut_is_parameter_free_subsample_and_zero_pad():
    model = get_model("resnet20")
    block = model.layers[3]  # first block of stage 2: 16 -> 32 channels, stride 2
    x = torch.randn(2, 16, 8, 8)
    out = block.shortcut(x)
    assert out.shape == (2, 32, 4, 4)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2])
    assert not out[:, :8].any() and not out[:, 24:].any()
    assert sum(p.numel() for p in block.shortcut.parameters()) == 0


def small_cnn_formula(cin: int, k: int) -> int:
    return conv(cin, 32) + bn(32) + conv(32, 64) + bn(64) + conv(64, 128) + bn(128) + linear(128, k)


@pytest.mark.parametrize("name", ["cnn8", "cnn28", "cnn32"])
@pytest.mark.parametrize("cin", [1, 3])
def test_small_cnn_param_counts(name, cin):
    assert n_params(get_model(name, num_classes=7, in_channels=cin)) == small_cnn_formula(cin, 7)


def test_cnn32_flatten_and_hidden_heads():
    convs = small_cnn_formula(3, 7) - linear(128, 7)
    flat = get_model("cnn32", num_classes=7, in_channels=3, head="flatten")
    assert n_params(flat) == convs + linear(128 * 4 * 4, 7)
    fc = get_model("cnn32", num_classes=7, in_channels=3, head="flatten", hidden=512)
    assert n_params(fc) == convs + linear(128 * 4 * 4, 512) + linear(512, 7)
    x = torch.randn(2, 3, 32, 32)
    assert fc(x).shape == (2, 7)
    # the flattened head is the classifier applied to the raw feature maps, in (C, H, W) order
    fc.eval()
    feats = fc.features(x)
    manual = fc.fc(torch.relu(fc.hidden[0](feats.reshape(2, -1))))
    torch.testing.assert_close(fc(x), manual)
    with pytest.raises(ValueError, match="head"):
        get_model("cnn32", num_classes=7, in_channels=3, head="max")


def test_mlp_param_count_and_in_features():
    m = get_model("mlp", num_classes=10, in_channels=1)  # 8x8 digits
    assert n_params(m) == linear(64, 256) + linear(256, 256) + linear(256, 10)
    t = get_model("mlp", num_classes=3, in_features=20, hidden=(16,))
    assert n_params(t) == linear(20, 16) + linear(16, 3)
    assert t(torch.randn(4, 20)).shape == (4, 3)


FAST = [
    ("resnet20", 3, 32),
    ("resnet32", 3, 32),
    ("resnet56", 3, 32),
    ("cnn32", 3, 32),
    ("cnn28", 1, 28),
    ("cnn8", 1, 8),
    ("mlp", 1, 8),
]


def forward_backward(name: str, cin: int, size: int, k: int = 5, channels_last: bool = False):
    torch.manual_seed(0)
    model = get_model(name, num_classes=k, in_channels=cin)
    x = torch.randn(2, cin, size, size)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    model.train()
    logits = model(x)
    assert logits.shape == (2, k)
    assert logits.dtype == torch.float32
    assert torch.isfinite(logits).all()
    nn.functional.cross_entropy(logits, torch.tensor([0, k - 1])).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, k)
    return model


@pytest.mark.parametrize(("name", "cin", "size"), FAST)
def test_forward_backward_fast(name, cin, size):
    forward_backward(name, cin, size)


def test_forward_backward_resnet110():
    forward_backward("resnet110", 3, 32)


@pytest.mark.parametrize("name", ["resnet20", "cnn32"])
def test_in_channels_one_and_channels_last(name):
    forward_backward(name, 1, 32, channels_last=True)


def test_channels_last_matches_contiguous():
    torch.manual_seed(0)
    model = get_model("resnet20").eval()
    x = torch.randn(2, 3, 32, 32)
    ref = model(x)
    cl = model.to(memory_format=torch.channels_last)(
        x.contiguous(memory_format=torch.channels_last)
    )
    torch.testing.assert_close(cl, ref, rtol=1e-4, atol=1e-4)


def test_kaiming_init_scale():
    """He init: conv weights have std ~ sqrt(2 / fan_in) (ResNet) or sqrt(2 / fan_out) (CNN)."""
    torch.manual_seed(0)
    w = get_model("resnet56").layers[-1].conv2.weight  # 64 -> 64, fan_in 576
    assert abs(w.std().item() - (2 / 576) ** 0.5) < 0.1 * (2 / 576) ** 0.5
    w = get_model("cnn32").features[-4].weight  # 64 -> 128, fan_out 1152
    assert abs(w.std().item() - (2 / 1152) ** 0.5) < 0.1 * (2 / 1152) ** 0.5


@pytest.mark.parametrize("name", ["resnet20", "cnn32", "densenet121", "wrn16_4"])
def test_activations_stay_channels_last(name):
    """No layer silently converts back to NCHW (option-A padding, concatenation, ...)."""
    model = get_model(name).to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    seen: list[tuple[str, bool]] = []

    def hook(mod, inputs, out):
        if out.ndim == 4 and out.shape[1] > 1 and out.shape[2] * out.shape[3] > 1:
            seen.append((type(mod).__name__, out.is_contiguous(memory_format=torch.channels_last)))

    for m in model.modules():
        if len(list(m.children())) == 0 or hasattr(m, "shortcut"):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(x)
    assert seen and all(ok for _, ok in seen), [s for s in seen if not s[1]]
