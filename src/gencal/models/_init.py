"""He (Kaiming) initialisation shared by the zoo."""

from __future__ import annotations

from torch import nn


def he_init(model: nn.Module, mode: str = "fan_out") -> None:
    """Conv weights ~ N(0, 2 / fan) (He et al. 2015), BN weight 1 / bias 0, linear bias 0.

    ``mode="fan_out"`` (fan = k*k*out_channels) is what the original ResNet, WideResNet and
    DenseNet code used for convolutions. Linear weights keep PyTorch's default initialisation.
    GroupNorm layers are treated like BatchNorm.

    Args:
        model: initialised in place, every submodule included.
        mode: ``"fan_out"`` or ``"fan_in"`` (as in :func:`torch.nn.init.kaiming_normal_`).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Sequential(nn.Conv2d(3, 64, 3), nn.BatchNorm2d(64))
        >>> he_init(net)
        >>> fan_out = 3 * 3 * 64
        >>> round(net[0].weight.std().item() / (2 / fan_out) ** 0.5, 1)  # std = sqrt(2 / fan_out)
        1.0
        >>> net[1].weight.unique().tolist(), net[0].bias.abs().max().item()
        ([1.0], 0.0)
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)
