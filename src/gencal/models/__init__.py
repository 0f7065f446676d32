"""gencal.models: the model zoo, looked up by name.

``get_model(name, num_classes=10, in_channels=3, **kw)`` returns an ``nn.Module`` mapping float
images ``[B, C, H, W]`` to logits ``[B, num_classes]``; ``list_models()`` gives the names.
See ``docs/models.md`` for the table of models, parameter counts and intended input sizes.
"""

from gencal.models import densenet, resnet_cifar, resnet_wide_stem, small, wide_resnet  # noqa: F401
from gencal.models.densenet import DenseNet
from gencal.models.registry import get_model, list_models, register_model
from gencal.models.resnet_cifar import CifarResNet
from gencal.models.resnet_wide_stem import ResNet
from gencal.models.small import MLP, SmallCNN
from gencal.models.wide_resnet import WideResNet, WideResNetPostAct

__all__ = [
    "MLP",
    "CifarResNet",
    "DenseNet",
    "ResNet",
    "SmallCNN",
    "WideResNet",
    "WideResNetPostAct",
    "get_model",
    "list_models",
    "register_model",
]
