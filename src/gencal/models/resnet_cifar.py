"""CIFAR ResNets of He et al. (2016), "Deep Residual Learning", section 4.2.

Depth ``6n + 2``: a 3x3 conv with 16 filters, then three stages of ``n`` basic blocks with
16, 32 and 64 filters on feature maps of 32x32, 16x16 and 8x8 (the first block of stages 2
and 3 has stride 2), global average pooling and a fully connected layer. Shortcuts are option
A of the paper: identity, and where the shape changes the input is subsampled by 2 and padded
with zero channels (no extra parameters). Parameter counts for 10 classes: ResNet-20 0.27M,
ResNet-32 0.46M, ResNet-56 0.85M, ResNet-110 1.7M. Weights use He (Kaiming normal, fan-in)
initialisation as in the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gencal.models.registry import register_model

__all__ = ["CifarResNet", "cifar_resnet"]


class _ZeroPadShortcut(nn.Module):
    """Option-A shortcut: subsample by ``stride`` and zero-pad channels to ``out_planes``."""

    def __init__(self, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        extra = out_planes - in_planes
        self.pad = (extra // 2, extra - extra // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad[0], self.pad[1]))


class _BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride != 1 or in_planes != planes:
            self.shortcut: nn.Module = _ZeroPadShortcut(in_planes, planes, stride)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) of He et al. for 32x32 inputs (see the module docstring for the layers).

    Any input size works thanks to global average pooling.

    Args:
        depth: ``6n + 2`` with ``n >= 1`` basic blocks per stage (20, 32, 44, 56, 110, ...).
        num_classes, in_channels: as for every model of the zoo (:mod:`gencal.models.registry`).

    Raises:
        ValueError: ``depth`` is not ``6n + 2`` with ``n >= 1``.

    Example:
        >>> import torch
        >>> net = CifarResNet(8, num_classes=4, in_channels=1)  # n = 1
        >>> len(net.layers), net(torch.zeros(2, 1, 16, 16)).shape
        (3, torch.Size([2, 4]))
        >>> CifarResNet(10)
        Traceback (most recent call last):
        ...
        ValueError: depth: CIFAR ResNet depth must be 6n+2 with n >= 1, got 10
    """

    def __init__(self, depth: int, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"depth: CIFAR ResNet depth must be 6n+2 with n >= 1, got {depth}")
        n = (depth - 2) // 6
        self.depth = depth
        self.conv1 = nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers: list[nn.Module] = []
        in_planes = 16
        for stage, planes in enumerate((16, 32, 64)):
            for i in range(n):
                stride = 2 if (stage > 0 and i == 0) else 1
                layers.append(_BasicBlock(in_planes, planes, stride))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.fc(out)


def cifar_resnet(depth: int, num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """Build ResNet-``depth`` (depth = 6n + 2), the same as :class:`CifarResNet`.

    Args:
        depth: ``6n + 2`` with ``n >= 1``.
        num_classes, in_channels: as for every model of the zoo (:mod:`gencal.models.registry`).

    Returns:
        The :class:`CifarResNet`.

    Example:
        >>> sum(p.numel() for p in cifar_resnet(44).parameters())
        658586
    """
    return CifarResNet(depth, num_classes=num_classes, in_channels=in_channels)


@register_model("resnet20")
def resnet20(num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """ResNet-20 (n=3) of He et al., a :class:`CifarResNet`: 269,722 parameters for 10 classes.

    Example:
        >>> import torch
        >>> net = resnet20()
        >>> sum(p.numel() for p in net.parameters()), net(torch.zeros(2, 3, 16, 16)).shape
        (269722, torch.Size([2, 10]))
    """
    return CifarResNet(20, num_classes, in_channels)


@register_model("resnet32")
def resnet32(num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """ResNet-32 (n=5) of He et al., a :class:`CifarResNet`: 464,154 parameters for 10 classes.

    Example:
        >>> net = resnet32(num_classes=100)
        >>> sum(p.numel() for p in net.parameters()), len(net.layers)  # 3 stages of 5 blocks
        (470004, 15)
    """
    return CifarResNet(32, num_classes, in_channels)


@register_model("resnet56")
def resnet56(num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """ResNet-56 (n=9) of He et al., a :class:`CifarResNet`: 853,018 parameters for 10 classes.

    Example:
        >>> net = resnet56(in_channels=1)
        >>> net.depth, net.conv1.in_channels, sum(p.numel() for p in resnet56().parameters())
        (56, 1, 853018)
    """
    return CifarResNet(56, num_classes, in_channels)


@register_model("resnet110")
def resnet110(num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """ResNet-110 (n=18) of He et al., a :class:`CifarResNet`: 1,727,962 parameters for 10 classes.

    Not the focal-calibration repository's "ResNet-110" (that is ``resnet110_focal``).

    Example:
        >>> sum(p.numel() for p in resnet110().parameters())
        1727962
    """
    return CifarResNet(110, num_classes, in_channels)
