"""A model that is not in gencal's zoo, as a user would write it (used by the trainer tests)."""

from __future__ import annotations

from torch import nn


class TinyNet(nn.Module):
    """Flatten, one hidden layer of ``width`` units, ``num_classes`` logits (8x8 inputs)."""

    def __init__(self, num_classes: int, width: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(64, width), nn.ReLU(), nn.Linear(width, num_classes)
        )

    def forward(self, x):
        return self.net(x)
