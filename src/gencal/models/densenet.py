"""DenseNet-BC (Huang et al. 2017) in the CIFAR variant of the focal-calibration repository.

A 3x3 stem conv with ``2 * growth_rate`` filters (no BN/ReLU/pool after it), four dense blocks
of bottleneck layers (BN-ReLU-conv1x1 to ``4 * growth_rate``, BN-ReLU-conv3x3 to
``growth_rate``, concatenated to the input), transitions between them (BN-ReLU-conv1x1
compressing channels to ``floor(reduction * C)``, 2x2 average pooling), a final BN-ReLU, global
average pooling and a linear layer. DenseNet-121: growth 32, blocks (6, 12, 24, 16),
reduction 0.5: 6,956,298 parameters for 10 classes. He initialisation (normal, fan-out) as in the
original Lua code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gencal.models._init import he_init
from gencal.models.registry import register_model

__all__ = ["DenseNet"]


class _DenseLayer(nn.Module):
    def __init__(self, in_planes: int, growth_rate: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, 4 * growth_rate, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth_rate)
        self.conv2 = nn.Conv2d(4 * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([out, x], dim=1)


class _Transition(nn.Module):
    def __init__(self, in_planes: int, out_planes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.conv = nn.Conv2d(in_planes, out_planes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class DenseNet(nn.Module):
    """DenseNet-BC with a CIFAR stem (see the module docstring for the layers).

    Args:
        block_config: bottleneck layers per dense block.
        growth_rate: channels each layer adds (the stem has ``2 * growth_rate``).
        reduction: a transition keeps ``floor(reduction * C)`` of its ``C`` channels.
        num_classes, in_channels: as for every model of the zoo (:mod:`gencal.models.registry`).

    Shape:
        ``forward(x [B, in_channels, H, W])`` -> logits ``[B, num_classes]``; ``H`` and ``W``
        at least ``2 ** (len(block_config) - 1)`` for the 2x2 poolings of the transitions
        (8 for DenseNet-121, whose intended input is 32x32).

    Example:
        >>> import torch
        >>> net = DenseNet(block_config=(2, 2), growth_rate=4, num_classes=5)
        >>> net.fc.in_features  # 8 + 2*4 = 16 -> transition 8 -> + 2*4 = 16
        16
        >>> net(torch.zeros(2, 3, 8, 8)).shape
        torch.Size([2, 5])
    """

    def __init__(
        self,
        block_config: Sequence[int] = (6, 12, 24, 16),
        growth_rate: int = 32,
        reduction: float = 0.5,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        planes = 2 * growth_rate
        self.conv1 = nn.Conv2d(in_channels, planes, 3, padding=1, bias=False)
        stages: list[nn.Module] = []
        for i, n in enumerate(block_config):
            for _ in range(n):
                stages.append(_DenseLayer(planes, growth_rate))
                planes += growth_rate
            if i < len(block_config) - 1:
                out_planes = math.floor(planes * reduction)
                stages.append(_Transition(planes, out_planes))
                planes = out_planes
        self.features = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(planes)
        self.fc = nn.Linear(planes, num_classes)
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.features(self.conv1(x))
        out = F.relu(self.bn(out))
        return self.fc(out.mean(dim=(2, 3)))


@register_model("densenet121")
def densenet121(num_classes: int = 10, in_channels: int = 3) -> DenseNet:
    """DenseNet-121 (CIFAR variant), a :class:`DenseNet`: growth 32, blocks (6, 12, 24, 16).

    Example:
        >>> sum(p.numel() for p in densenet121().parameters())  # 10 classes, 3 channels
        6956298
    """
    return DenseNet((6, 12, 24, 16), 32, 0.5, num_classes, in_channels)
