"""Registry of training losses by name: ``get_loss("gce", lam=1.0)``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from gencal._checks import GencalInputError
from gencal.losses.base import CalibrationLoss

__all__ = ["get_loss", "list_losses", "register_loss"]

_REGISTRY: dict[str, type[CalibrationLoss]] = {}

T = TypeVar("T", bound=type[CalibrationLoss])


def register_loss(name: str) -> Callable[[T], T]:
    """Class decorator registering a :class:`CalibrationLoss` subclass under ``name``.

    Args:
        name: the registry name (lower case).

    Returns:
        A decorator that registers the class and returns it unchanged.

    Example:
        >>> from gencal.losses import CalibrationLoss, register_loss
        >>> @register_loss("my_loss")
        ... class MyLoss(CalibrationLoss):
        ...     pass
        >>> MyLoss.name
        'my_loss'
        >>> from gencal.losses.registry import _REGISTRY
        >>> _ = _REGISTRY.pop("my_loss")  # keep the registry as it was
    """

    def deco(cls: T) -> T:
        if not (isinstance(cls, type) and issubclass(cls, CalibrationLoss)):
            raise TypeError(f"register_loss({name!r}): {cls!r} is not a CalibrationLoss subclass")
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(
                f"register_loss: the name {name!r} is already taken by {_REGISTRY[name]}"
            )
        _REGISTRY[name] = cls
        cls.name = name
        return cls

    return deco


def list_losses() -> list[str]:
    """Names of the registered losses, sorted.

    Returns:
        The sorted registry names.

    Example:
        >>> "gce" in list_losses() and "ce" in list_losses()
        True
    """
    return sorted(_REGISTRY)


def get_loss(name: str, **hparams: Any) -> CalibrationLoss:
    """Build the loss registered as ``name`` with keyword hyperparameters.

    Raises :class:`gencal.GencalInputError` (a ``ValueError``) for an unknown name (listing the
    known ones) and :class:`TypeError` for a hyperparameter the loss does not take (naming it
    and listing the accepted ones).

    Args:
        name: a registry name (case-insensitive; ``-`` and ``_`` are the same).
        **hparams: keyword hyperparameters of the loss.

    Returns:
        A new loss module.

    Example:
        >>> get_loss("focal", gamma=2.0)
        FocalLoss(gamma=2.0, reduction='mean', ignore_index=-100)
    """
    key = str(name).strip().lower().replace("-", "_")
    if key not in _REGISTRY:
        raise GencalInputError(f"unknown loss {name!r}; known losses: {', '.join(list_losses())}")
    cls = _REGISTRY[key]
    params = inspect.signature(cls.__init__).parameters
    accepted = [
        p for p in params if p != "self" and params[p].kind is not inspect.Parameter.VAR_KEYWORD
    ]
    unknown = [k for k in hparams if k not in accepted]
    if unknown:
        raise TypeError(
            f"loss {key!r} ({cls.__name__}) got unknown hyperparameter(s) "
            f"{', '.join(map(repr, unknown))}; accepted: {', '.join(accepted)}"
        )
    return cls(**hparams)
