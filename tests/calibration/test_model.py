"""CalibratedModel: a model and a calibrator as one nn.Module."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gencal import NotFittedError
from gencal.calibration import CalibratedModel, get_calibrator


def _setup(k=4, seed=0):
    """A linear model whose logits are 4x the first k features; labels follow 1x (noisy)."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Dropout(0.5), nn.Linear(6, k))
    with torch.no_grad():
        net[1].weight.copy_(4.0 * torch.eye(k, 6))
        net[1].bias.zero_()
    x = torch.randn(600, 6)
    y = torch.distributions.Categorical(logits=x[:, :k]).sample()
    return net, x, y


@pytest.mark.parametrize("name", ["ts", "ats", "dirichlet", "isotonic"])
@pytest.mark.parametrize("output", ["logits", "probs"])
def test_forward_equals_the_calibrator_on_the_model_logits(name, output):
    net, x, y = _setup()
    net.train()
    loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True)
    cm = CalibratedModel(net, get_calibrator(name), output=output).fit(loader)
    assert net.training  # the mode is restored
    net.eval()
    with torch.no_grad():
        ref_logits = net(x)
    # the fit saw the eval-mode logits (dropout off) of every sample
    twin = get_calibrator(name).fit(ref_logits.numpy(), y.numpy())
    want = twin.predict_proba(ref_logits) if output == "probs" else twin.transform(ref_logits)
    with torch.no_grad():
        got = cm(x)
    assert got.shape == ref_logits.shape and got.dtype == ref_logits.dtype
    assert got.device == ref_logits.device
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)


def test_temperature_path_is_torch_and_differentiable():
    net, x, y = _setup()
    cm = CalibratedModel(net, "ts").fit(DataLoader(TensorDataset(x, y), batch_size=200))
    out = cm(x[:8])
    assert out.requires_grad  # computed in torch, gradients reach the model
    out.sum().backward()
    assert net[1].weight.grad is not None


def test_binary_single_logit_model():
    torch.manual_seed(1)
    net = nn.Linear(3, 1)
    x = torch.randn(400, 3)
    y = (torch.rand(400) < torch.sigmoid(x[:, 0])).long()
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[4.0, 0.0, 0.0]]))
    cm = CalibratedModel(net, "ts", output="probs").fit(DataLoader(TensorDataset(x, y), 100))
    with torch.no_grad():
        got = cm(x)
        want = cm.calibrator.predict_proba(net(x))
    assert got.shape == (400, 1)
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6)


def test_state_dict_carries_the_calibrator():
    net, x, y = _setup()
    cm = CalibratedModel(net, "ats").fit(DataLoader(TensorDataset(x, y), batch_size=100))
    state = cm.state_dict()
    net2, _, _ = _setup(seed=5)
    other = CalibratedModel(net2, "ats")
    with pytest.raises(NotFittedError, match="not fitted"):
        other(x[:3])
    with pytest.raises(NotFittedError, match="not fitted"):
        CalibratedModel(net2, "ts")(x[:3])
    other.load_state_dict(state)
    cm.eval()
    other.eval()
    assert other.calibrator.to_json() == cm.calibrator.to_json()
    with torch.no_grad():
        np.testing.assert_allclose(other(x).numpy(), cm(x).numpy(), atol=0)
