"""Model registry: ``get_model(name, num_classes=..., in_channels=...)`` and ``list_models()``.

Every model class and registered builder takes ``num_classes`` (outputs of the final linear
layer) and ``in_channels`` (channels of the input images) and returns an ``nn.Module`` mapping
float images ``[B, in_channels, H, W]`` to logits ``[B, num_classes]`` (no softmax). Builders
never move parameters to a device.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from gencal._checks import GencalInputError

__all__ = ["get_model", "list_models", "register_model"]

ModelBuilder = Callable[..., nn.Module]

_REGISTRY: dict[str, ModelBuilder] = {}


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator registering ``builder(num_classes=..., in_channels=..., **kw)`` under ``name``.

    Args:
        name: the model's name for :func:`get_model` (stored lower-case).

    Returns:
        A decorator that registers the builder and returns it unchanged.

    Raises:
        ValueError: ``name`` is already registered.

    Example:
        >>> from torch import nn
        >>> @register_model("linear8")
        ... def linear8(num_classes=10, in_channels=1):
        ...     return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 64, num_classes))
        >>> get_model("Linear8", num_classes=3)[1].out_features
        3
        >>> register_model("linear8")(linear8)
        Traceback (most recent call last):
        ...
        ValueError: model 'linear8' is already registered
        >>> _ = _REGISTRY.pop("linear8")  # keep the registry as it was
    """
    key = name.lower()

    def decorator(builder: ModelBuilder) -> ModelBuilder:
        if key in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[key] = builder
        return builder

    return decorator


def list_models() -> list[str]:
    """Sorted names accepted by :func:`get_model`.

    Returns:
        The registered model names, lower-case and sorted.

    Example:
        >>> names = list_models()
        >>> names[:4], len(names)
        (['cnn28', 'cnn32', 'cnn8', 'densenet121'], 16)
    """
    return sorted(_REGISTRY)


def get_model(name: str, num_classes: int = 10, in_channels: int = 3, **kwargs: Any) -> nn.Module:
    """Build the model registered as ``name`` (case-insensitive) returning logits.

    The model is freshly initialised on the CPU (nothing is moved to a device) and maps float
    images to logits (no softmax).

    Args:
        name: a name of :func:`list_models`, any case.
        num_classes: size of the output layer (a positive integer).
        in_channels: channels of the input images (a positive integer).
        **kwargs: builder options, e.g. ``drop_rate`` (pre-activation WideResNets),
            ``input_size`` / ``in_features`` / ``hidden`` (``mlp``), ``head`` (``cnn32``).

    Shape:
        ``model(x [B, in_channels, H, W])`` -> logits ``[B, num_classes]``.

    Returns:
        The ``nn.Module``.

    Raises:
        GencalInputError: an unknown name, a non-positive ``num_classes`` / ``in_channels``, or
            a keyword the builder does not take (the message lists the accepted ones).

    Example:
        >>> import torch
        >>> model = get_model("ResNet20", num_classes=100)
        >>> model.eval()(torch.zeros(2, 3, 16, 16)).shape
        torch.Size([2, 100])
        >>> get_model("resnet20", width=2)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        gencal._checks.GencalInputError: model 'resnet20': bad keyword arguments ['width'] ...
    """
    if not isinstance(name, str):
        raise GencalInputError(f"name: expected a model name string, got {type(name).__name__}")
    key = name.lower()
    if key not in _REGISTRY:
        raise GencalInputError(
            f"name: unknown model {name!r}; known models: {', '.join(list_models())}"
        )
    for arg, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GencalInputError(f"{arg}: expected a positive integer, got {value!r}")
    builder = _REGISTRY[key]
    try:
        inspect.signature(builder).bind(num_classes=num_classes, in_channels=in_channels, **kwargs)
    except TypeError as exc:
        raise GencalInputError(
            f"model {name!r}: bad keyword arguments {sorted(kwargs)} ({exc}); "
            f"accepted: {list(inspect.signature(builder).parameters)}"
        ) from exc
    return builder(num_classes=num_classes, in_channels=in_channels, **kwargs)
