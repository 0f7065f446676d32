"""Model registry: ``get_model(name, num_classes=..., in_channels=...)`` and ``list_models()``.

Every registered builder returns an ``nn.Module`` mapping images ``[B, C, H, W]`` (float) to
logits ``[B, num_classes]``. Builders never move parameters to a device.
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
    """Decorator registering ``builder(num_classes=..., in_channels=..., **kw)`` under ``name``."""
    key = name.lower()

    def decorator(builder: ModelBuilder) -> ModelBuilder:
        if key in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[key] = builder
        return builder

    return decorator


def list_models() -> list[str]:
    """Sorted names accepted by :func:`get_model`."""
    return sorted(_REGISTRY)


def get_model(name: str, num_classes: int = 10, in_channels: int = 3, **kwargs: Any) -> nn.Module:
    """Build the model registered as ``name`` (case-insensitive) returning logits.

    ``num_classes`` and ``in_channels`` must be positive integers; extra keyword arguments go
    to the builder (e.g. ``drop_rate`` for WideResNets, ``input_size`` for the MLP).
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
