"""Small networks for quick experiments on CPU.

- ``cnn32``: three 3x3 conv-BN-ReLU-maxpool stages (32, 64, 128 filters; 32 -> 16 -> 8 -> 4),
  global average pooling, linear classifier. For 32x32 inputs (CIFAR).
- ``cnn28``: conv-BN-ReLU-maxpool (32), conv-BN-ReLU-maxpool (64), conv-BN-ReLU (128)
  (28 -> 14 -> 7), global average pooling, linear. For 28x28 inputs (MNIST, Fashion-MNIST,
  MedMNIST-28).
- ``cnn8``: conv-BN-ReLU (32), conv-BN-ReLU-maxpool (64), conv-BN-ReLU (128) (8 -> 4), global
  average pooling, linear. For 8x8 inputs (scikit-learn digits).
- ``mlp``: flatten, two hidden ReLU layers (256 units), linear. ``in_features`` defaults to
  ``in_channels * input_size**2`` (``input_size=8``: digits); pass ``in_features`` for tabular data.

All use global average pooling, so any input at least as large as the intended size works;
``cnn32(head="flatten")`` flattens its 4x4 feature maps instead (32x32 inputs only).
Convolutions use Kaiming normal (fan-out, ReLU) initialisation, BN starts at identity, linear
bias 0; the MLP keeps PyTorch's default initialisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gencal.models._init import he_init
from gencal.models.registry import register_model

__all__ = ["MLP", "SmallCNN"]


class SmallCNN(nn.Module):
    """Stack of 3x3 conv-BN-ReLU layers, a 2x2 max-pool after those flagged in ``pool``.

    Args:
        num_classes, in_channels: as for every model of the zoo (:mod:`gencal.models.registry`).
        widths: filters of each conv layer.
        pool: one flag per conv layer: a 2x2 max-pool after it.
        head: ``"avg"`` (global average pooling) or ``"flatten"`` (flatten the last feature
            maps; needs ``input_size``).
        input_size: the input's height = width; used only by ``head="flatten"``.
        hidden: width of a Linear-ReLU layer before the classifier (0: none).

    Raises:
        ValueError: ``widths`` and ``pool`` empty or of different lengths, an unknown
            ``head``, or ``head="flatten"`` without ``input_size``.

    Example:
        >>> import torch
        >>> net = SmallCNN(num_classes=3, in_channels=1, widths=(8, 16), pool=(True, False))
        >>> net(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 3])
        >>> SmallCNN(widths=(8, 16), pool=(True, True), head="flatten", input_size=8).fc.in_features
        64
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        widths: Sequence[int] = (32, 64, 128),
        pool: Sequence[bool] = (True, True, True),
        head: str = "avg",
        input_size: int | None = None,
        hidden: int = 0,
    ) -> None:
        super().__init__()
        if len(widths) != len(pool) or not widths:
            raise ValueError("widths and pool must be non-empty and of the same length")
        if head not in ("avg", "flatten"):
            raise ValueError(f"head: expected 'avg' or 'flatten', got {head!r}")
        if head == "flatten" and not input_size:
            raise ValueError("head='flatten' needs input_size (the input's height = width)")
        layers: list[nn.Module] = []
        c = in_channels
        for w, p in zip(widths, pool):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
            if p:
                layers.append(nn.MaxPool2d(2))
            c = w
        self.features = nn.Sequential(*layers)
        self.head = head
        side = 1 if head == "avg" else int(input_size) // 2 ** sum(bool(p) for p in pool)
        d = c * side * side
        if hidden:
            self.hidden = nn.Sequential(nn.Linear(d, int(hidden)), nn.ReLU())
            d = int(hidden)
        else:
            self.hidden = nn.Identity()
        self.fc = nn.Linear(d, num_classes)
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.features(x)
        feats = out.mean(dim=(2, 3)) if self.head == "avg" else out.flatten(1)
        return self.fc(self.hidden(feats))


class MLP(nn.Module):
    """Flatten, ``len(hidden)`` Linear-ReLU layers, then a linear classifier.

    Args:
        in_features: size of a flattened input.
        num_classes: outputs of the final linear layer.
        hidden: widths of the hidden layers.

    Shape:
        ``forward(x [B, ...])`` with ``in_features`` values per sample -> logits
        ``[B, num_classes]``.

    Example:
        >>> import torch
        >>> net = MLP(4, num_classes=3, hidden=(5,))
        >>> sum(p.numel() for p in net.parameters()), net(torch.zeros(2, 4)).shape
        (43, torch.Size([2, 3]))
    """

    def __init__(
        self, in_features: int, num_classes: int = 10, hidden: Sequence[int] = (256, 256)
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        d = in_features
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        layers.append(nn.Linear(d, num_classes))
        self.net = nn.Sequential(*layers)
        self.in_features = in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register_model("cnn32")
def cnn32(
    num_classes: int = 10, in_channels: int = 3, head: str = "avg", hidden: int = 0
) -> SmallCNN:
    """Three conv-pool stages for 32x32 inputs.

    ``head="flatten"`` replaces global average pooling by flattening the 128x4x4 features into
    the classifier, and ``hidden > 0`` puts a ReLU layer of that width before it (``flatten``
    with ``hidden=512``: 1M more weights, under 10% more multiply-adds): a network that fits its
    training set within a few dozen epochs, for studies of the overconfident regime.

    Args:
        num_classes, in_channels: as for every model of the zoo (:mod:`gencal.models.registry`).
        head: ``"avg"`` or ``"flatten"`` (32x32 inputs only).
        hidden: width of a Linear-ReLU layer before the classifier (0: none).

    Returns:
        The :class:`SmallCNN`: 94,762 parameters for 10 classes (1,147,690 with
        ``head="flatten", hidden=512``).

    Example:
        >>> import torch
        >>> cnn32(head="flatten")(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
        >>> sum(p.numel() for p in cnn32(head="flatten", hidden=512).parameters())
        1147690
    """
    return SmallCNN(num_classes, in_channels, (32, 64, 128), (True, True, True), head, 32, hidden)


@register_model("cnn28")
def cnn28(num_classes: int = 10, in_channels: int = 3) -> SmallCNN:
    """A :class:`SmallCNN` of three convs and two pools for 28x28 inputs (MNIST, MedMNIST-28).

    Example:
        >>> import torch
        >>> net = cnn28(in_channels=1)
        >>> sum(p.numel() for p in net.parameters()), net(torch.zeros(2, 1, 28, 28)).shape
        (94186, torch.Size([2, 10]))
    """
    return SmallCNN(num_classes, in_channels, (32, 64, 128), (True, True, False))


@register_model("cnn8")
def cnn8(num_classes: int = 10, in_channels: int = 3) -> SmallCNN:
    """A :class:`SmallCNN` of three convs and one pool for 8x8 inputs (scikit-learn digits).

    Example:
        >>> import torch
        >>> cnn8(num_classes=4, in_channels=1)(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 4])
    """
    return SmallCNN(num_classes, in_channels, (32, 64, 128), (False, True, False))


@register_model("mlp")
def mlp(
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int = 8,
    in_features: int | None = None,
    hidden: Sequence[int] = (256, 256),
) -> MLP:
    """MLP on flattened inputs; ``in_features`` defaults to ``in_channels * input_size**2``.

    Args:
        num_classes, in_channels: as for every model of the zoo (:mod:`gencal.models.registry`).
        input_size: the images' height = width (8: scikit-learn digits).
        in_features: size of a flattened input, for tabular data (overrides the two above).
        hidden: widths of the hidden layers.

    Returns:
        The :class:`MLP`.

    Example:
        >>> import torch
        >>> mlp(in_channels=1).in_features, mlp(in_features=20).in_features
        (64, 20)
        >>> mlp(in_channels=1)(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """
    if in_features is None:
        in_features = in_channels * input_size * input_size
    return MLP(in_features, num_classes, tuple(hidden))
