"""gencal.losses: Generative Cross-Entropy and the baseline training losses.

Every loss is an ``nn.Module`` called as ``loss(logits [N, K], target [N])`` with
``reduction`` and ``ignore_index``; look them up by name with :func:`get_loss`
(``list_losses()`` gives the names). See docs/losses.md.
"""

from gencal.losses.adafocal import AdaFocalLoss
from gencal.losses.base import CalibrationLoss
from gencal.losses.brier import BrierLoss
from gencal.losses.ce import CrossEntropyLoss, LabelSmoothingLoss
from gencal.losses.focal import DualFocalLoss, FLSD53Loss, FocalLoss
from gencal.losses.gce import GenerativeCrossEntropyLoss, generative_cross_entropy
from gencal.losses.mbls import MbLSLoss
from gencal.losses.mdca import MDCALoss
from gencal.losses.mmce import MMCELoss
from gencal.losses.registry import get_loss, list_losses, register_loss

__all__ = [
    "AdaFocalLoss",
    "BrierLoss",
    "CalibrationLoss",
    "CrossEntropyLoss",
    "DualFocalLoss",
    "FLSD53Loss",
    "FocalLoss",
    "GenerativeCrossEntropyLoss",
    "LabelSmoothingLoss",
    "MDCALoss",
    "MMCELoss",
    "MbLSLoss",
    "generative_cross_entropy",
    "get_loss",
    "list_losses",
    "register_loss",
]
