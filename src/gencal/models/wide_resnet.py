"""Wide residual networks (Zagoruyko & Komodakis 2016) for 32x32 inputs.

``WideResNet`` (WRN-d-k, the paper's definition): a 3x3 conv with 16 filters, three groups of
``n = (d - 4) / 6`` pre-activation basic blocks (BN-ReLU-conv3x3-BN-ReLU-[dropout]-conv3x3) with
16k, 32k, 64k filters (strides 1, 2, 2), a 1x1 projection shortcut (taken from the
pre-activated input) wherever the width or stride changes, a final BN-ReLU, global average
pooling and a linear layer. WRN-28-10 has 36,479,194 parameters for 10 classes (36.5M in the
paper). ``drop_rate`` is the dropout between the two convs (the paper uses 0.3 in some runs).

``WRN-26-10`` is not a WRN-d-k of the paper (26 - 4 is not a multiple of 6). The calibration
literature that reports it (Mukhoti et al. 2020, "Calibrating deep neural networks using focal
loss", and the papers that follow its protocol) uses the focal-calibration repository's
definition, implemented here as :class:`WideResNetPostAct`: a 3x3 conv (16) + BN + ReLU, three
stages of ``n = (d - 2) / 6`` post-activation basic blocks (conv-BN-ReLU-conv-BN, add, ReLU) of
widths 16k, 32k, 64k with 1x1 conv + BN projection shortcuts, global average pooling, linear.
WRN-26-10 has 36,481,434 parameters for 10 classes (same convolutions as WRN-28-10; the
BatchNorm layers differ). Both use He initialisation (normal, fan-out) as in the originals.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gencal.models._init import he_init
from gencal.models.registry import register_model
from gencal.models.resnet_wide_stem import ResNetBasicBlock

__all__ = ["WideResNet", "WideResNetPostAct"]


class _PreActBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int, drop_rate: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.drop_rate = drop_rate
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        out = self.conv1(pre)
        out = F.relu(self.bn2(out))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        out = self.conv2(out)
        residual = x if self.shortcut is None else self.shortcut(pre)
        return out + residual


class WideResNet(nn.Module):
    """WRN-depth-widen_factor, pre-activation (see the module docstring for the layers).

    Args:
        depth: ``6n + 4`` with ``n >= 1`` blocks per group (10, 16, 22, 28, ...).
        widen_factor: ``k``: the groups have ``16k, 32k, 64k`` filters.
        num_classes, in_channels: as for every model of the zoo (:mod:`gencal.models.registry`).
        drop_rate: dropout between the two convs of each block, in ``[0, 1)``.

    Raises:
        ValueError: ``depth`` is not ``6n + 4`` with ``n >= 1``, or ``drop_rate`` outside
            ``[0, 1)``.

    Example:
        >>> import torch
        >>> net = WideResNet(depth=10, widen_factor=1, num_classes=3)
        >>> net.fc.in_features, net(torch.zeros(2, 3, 16, 16)).shape
        (64, torch.Size([2, 3]))
    """

    def __init__(
        self,
        depth: int = 28,
        widen_factor: int = 10,
        num_classes: int = 10,
        in_channels: int = 3,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if (depth - 4) % 6 != 0 or depth < 10:
            raise ValueError(f"depth: WRN depth must be 6n+4 with n >= 1, got {depth}")
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate: must be in [0, 1), got {drop_rate}")
        n = (depth - 4) // 6
        widths = [16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        blocks: list[nn.Module] = []
        in_planes = 16
        for g, planes in enumerate(widths):
            for i in range(n):
                stride = 2 if (g > 0 and i == 0) else 1
                blocks.append(_PreActBlock(in_planes, planes, stride, drop_rate))
                in_planes = planes
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(in_planes)
        self.fc = nn.Linear(in_planes, num_classes)
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.blocks(self.conv1(x))
        out = F.relu(self.bn(out))
        return self.fc(out.mean(dim=(2, 3)))


class WideResNetPostAct(nn.Module):
    """Post-activation wide ResNet of depth 6n + 2 (the focal-calibration WRN-26-10).

    Args:
        depth: ``6n + 2`` with ``n >= 1`` blocks per stage (26: n = 4).
        widen_factor: ``k``: the stages have ``16k, 32k, 64k`` filters.
        num_classes, in_channels: as for every model of the zoo (:mod:`gencal.models.registry`).

    Raises:
        ValueError: ``depth`` is not ``6n + 2`` with ``n >= 1``.

    Example:
        >>> import torch
        >>> net = WideResNetPostAct(depth=8, widen_factor=1, num_classes=3)
        >>> len(net.blocks), net(torch.zeros(2, 3, 16, 16)).shape
        (3, torch.Size([2, 3]))
    """

    def __init__(
        self, depth: int = 26, widen_factor: int = 10, num_classes: int = 10, in_channels: int = 3
    ) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"depth: post-activation WRN depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks: list[nn.Module] = []
        in_planes = 16
        for g, planes in enumerate((16 * widen_factor, 32 * widen_factor, 64 * widen_factor)):
            for i in range(n):
                stride = 2 if (g > 0 and i == 0) else 1
                blocks.append(ResNetBasicBlock(in_planes, planes, stride))
                in_planes = planes
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(in_planes, num_classes)
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.blocks(out)
        return self.fc(out.mean(dim=(2, 3)))


@register_model("wrn28_10")
def wrn28_10(num_classes: int = 10, in_channels: int = 3, drop_rate: float = 0.0) -> WideResNet:
    """WRN-28-10 (Zagoruyko & Komodakis), a pre-activation :class:`WideResNet`.

    Args:
        drop_rate: dropout between the two convs of each block (the paper uses 0.3 in some runs).

    Example:
        >>> sum(p.numel() for p in wrn28_10().parameters())  # 10 classes
        36479194
    """
    return WideResNet(28, 10, num_classes, in_channels, drop_rate)


@register_model("wrn16_4")
def wrn16_4(num_classes: int = 10, in_channels: int = 3, drop_rate: float = 0.0) -> WideResNet:
    """WRN-16-4 (Zagoruyko & Komodakis), a cheaper :class:`WideResNet`.

    Args:
        drop_rate: dropout between the two convs of each block.

    Example:
        >>> net = wrn16_4(drop_rate=0.3)
        >>> sum(p.numel() for p in net.parameters()), net.fc.in_features  # 10 classes
        (2748890, 256)
    """
    return WideResNet(16, 4, num_classes, in_channels, drop_rate)


@register_model("wrn26_10")
def wrn26_10(num_classes: int = 10, in_channels: int = 3) -> WideResNetPostAct:
    """WRN-26-10 of the focal-calibration repository, a :class:`WideResNetPostAct`.

    Example:
        >>> sum(p.numel() for p in wrn26_10().parameters())  # 10 classes
        36481434
    """
    return WideResNetPostAct(26, 10, num_classes, in_channels)
