"""gencal.losses: Generative Cross-Entropy and the baseline training losses.

Every loss is an ``nn.Module`` called as ``loss(logits [N, K], target [N])`` with
``reduction`` and ``ignore_index``; look them up by name with :func:`get_loss`.
"""

from gencal.losses.base import CalibrationLoss
from gencal.losses.ce import CrossEntropy, LabelSmoothing
from gencal.losses.gce import GenerativeCrossEntropy
from gencal.losses.registry import get_loss, list_losses, register_loss

__all__ = [
    "CalibrationLoss",
    "CrossEntropy",
    "GenerativeCrossEntropy",
    "LabelSmoothing",
    "get_loss",
    "list_losses",
    "register_loss",
]
