"""ImageNet-width ResNets (He et al. 2016) with the CIFAR stem.

The stem is a single 3x3 conv (64 filters, stride 1) + BN + ReLU with no max-pool, followed by
four stages of 64, 128, 256, 512 planes (strides 1, 2, 2, 2), global average pooling and a linear
layer: the variant used for CIFAR by kuangliu/pytorch-cifar and by the focal-calibration
repository (Mukhoti et al. 2020). Shortcuts are projections (1x1 conv + BN, option B) where the
shape changes. Parameter counts for 10 classes: ResNet-18 11,173,962; ResNet-34 21,282,122;
ResNet-50 23,520,842.

``resnet110_focal`` is the network the focal-calibration code calls "resnet110" (45,864,522 parameters): bottleneck
blocks with (3, 4, 26, 3) blocks per stage (not He et al.'s 1.7M-parameter CIFAR ResNet-110,
which is ``resnet110``). Papers following that protocol (e.g. Mukhoti et al. 2020 and the GCE
paper) report this network as ResNet-110.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gencal.models._init import he_init
from gencal.models.registry import register_model

__all__ = ["Bottleneck", "ResNet", "ResNetBasicBlock"]


def _projection(in_planes: int, out_planes: int, stride: int) -> nn.Module:
    if stride == 1 and in_planes == out_planes:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False), nn.BatchNorm2d(out_planes)
    )


class ResNetBasicBlock(nn.Module):
    """Basic residual block: two 3x3 conv-BN (post-activation), ReLU after the addition.

    The first conv carries the stride; the shortcut is the identity, or a 1x1 conv + BN
    projection where the stride or the width changes.

    Args:
        in_planes: input channels.
        planes: output channels (``expansion = 1``).
        stride: stride of the first conv and of the projection.

    Shape:
        ``forward(x [B, in_planes, H, W])`` -> ``[B, planes, ceil(H / stride), ceil(W / stride)]``.

    Example:
        >>> import torch
        >>> ResNetBasicBlock(16, 32, stride=2)(torch.zeros(1, 16, 8, 8)).shape
        torch.Size([1, 32, 4, 4])
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _projection(in_planes, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """Bottleneck block: 1x1 reduce, 3x3 (carries the stride), 1x1 expand by 4 (post-activation).

    The shortcut is the identity, or a 1x1 conv + BN projection where the shape changes.

    Args:
        in_planes: input channels.
        planes: channels of the inner convs; the block outputs ``4 * planes``.
        stride: stride of the 3x3 conv and of the projection.

    Shape:
        ``forward(x [B, in_planes, H, W])`` ->
        ``[B, 4 * planes, ceil(H / stride), ceil(W / stride)]``.

    Example:
        >>> import torch
        >>> Bottleneck(64, 16)(torch.zeros(1, 64, 8, 8)).shape
        torch.Size([1, 64, 8, 8])
    """

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = _projection(in_planes, out_planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet with the CIFAR stem (see the module docstring for the layers).

    Args:
        block: :class:`ResNetBasicBlock` or :class:`Bottleneck`.
        num_blocks: blocks in each of the four stages (64, 128, 256, 512 planes).
        num_classes, in_channels: as for every model of the zoo (:mod:`gencal.models.registry`).

    Example:
        >>> import torch
        >>> net = ResNet(ResNetBasicBlock, (1, 1, 1, 1), num_classes=3)
        >>> net.fc.in_features, net(torch.zeros(2, 3, 8, 8)).shape
        (512, torch.Size([2, 3]))
    """

    def __init__(
        self,
        block: type[ResNetBasicBlock] | type[Bottleneck],
        num_blocks: Sequence[int],
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        stages: list[nn.Module] = []
        in_planes = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), num_blocks)):
            blocks: list[nn.Module] = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block(in_planes, planes, stride))
                in_planes = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(in_planes, num_classes)
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.fc(out.mean(dim=(2, 3)))


@register_model("resnet18")
def resnet18(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """ResNet-18 with the CIFAR stem, a :class:`ResNet` of basic blocks (2, 2, 2, 2).

    Example:
        >>> net = resnet18()
        >>> [len(stage) for stage in (net.layer1, net.layer2, net.layer3, net.layer4)]
        [2, 2, 2, 2]
        >>> sum(p.numel() for p in net.parameters())  # 10 classes
        11173962
    """
    return ResNet(ResNetBasicBlock, (2, 2, 2, 2), num_classes, in_channels)


@register_model("resnet34")
def resnet34(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """ResNet-34 with the CIFAR stem, a :class:`ResNet` of basic blocks (3, 4, 6, 3).

    Example:
        >>> sum(p.numel() for p in resnet34().parameters())  # 10 classes
        21282122
    """
    return ResNet(ResNetBasicBlock, (3, 4, 6, 3), num_classes, in_channels)


@register_model("resnet50")
def resnet50(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """ResNet-50 with the CIFAR stem, a :class:`ResNet` of bottlenecks (3, 4, 6, 3).

    Example:
        >>> net = resnet50(num_classes=100)
        >>> sum(p.numel() for p in net.parameters()), net.fc.in_features
        (23705252, 2048)
    """
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels)


@register_model("resnet110_focal")
def resnet110_focal(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """The focal-calibration repository's "ResNet-110": a :class:`ResNet`, CIFAR stem.

    Bottleneck blocks (3, 4, 26, 3): 45,864,522 parameters for 10 classes.

    Example:
        >>> net = resnet110_focal()
        >>> type(net.layer3[0]).__name__, len(net.layer3), sum(p.numel() for p in net.parameters())
        ('Bottleneck', 26, 45864522)
    """
    return ResNet(Bottleneck, (3, 4, 26, 3), num_classes, in_channels)
