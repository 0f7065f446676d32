"""The calibrator registry: names -> classes, and loading saved calibrators."""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gencal._checks import GencalInputError

if TYPE_CHECKING:
    from gencal.calibration.base import Calibrator

__all__ = ["get_calibrator", "list_calibrators", "load_calibrator", "register_calibrator"]

_REGISTRY: dict[str, type[Calibrator]] = {}
C = TypeVar("C", bound="type[Calibrator]")


def register_calibrator(name: str):
    """Class decorator: register a :class:`~gencal.calibration.base.Calibrator` under ``name``.

    Args:
        name: the registry name (``get_calibrator(name)``, the ``"name"`` field of saved JSON).

    Returns:
        The decorator; it sets ``cls.name = name`` and returns the class unchanged.

    Raises:
        ValueError: when ``name`` is already taken by another class.

    Example:
        >>> from gencal.calibration import TemperatureScaling
        >>> register_calibrator("ts")(TemperatureScaling) is TemperatureScaling  # already its name
        True
    """

    def deco(cls: C) -> C:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"calibrator name {name!r} is already registered")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _ensure_registered() -> None:
    # Importing the package imports every calibrator module (each registers itself).
    import gencal.calibration  # noqa: F401


def list_calibrators() -> list[str]:
    """Names accepted by :func:`get_calibrator`, sorted.

    Returns:
        The registered names.

    Example:
        >>> {"ts", "ats", "none"} <= set(list_calibrators())
        True
    """
    _ensure_registered()
    return sorted(_REGISTRY)


def get_calibrator(name: str, **hparams: Any) -> Calibrator:
    """Build an unfitted calibrator by name; its hyperparameters are checked at once.

    Args:
        name: a name from :func:`list_calibrators`.
        **hparams: constructor arguments of that calibrator.

    Returns:
        The calibrator.

    Raises:
        GencalInputError: unknown name, unknown hyperparameter or a value outside its
            declared constraints (the message lists the valid names / values).

    Example:
        >>> get_calibrator("ats", n_pieces=8).n_pieces
        8
    """
    _ensure_registered()
    if name not in _REGISTRY:
        raise GencalInputError(
            f"unknown calibrator {name!r}; available: {', '.join(sorted(_REGISTRY))}"
        )
    cls = _REGISTRY[name]
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(hparams) - set(valid))
    if unknown:
        raise GencalInputError(
            f"calibrator {name!r} has no hyperparameter {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(valid) or '(none)'}"
        )
    cal = cls(**hparams)
    cal._validate_params()
    return cal


def load_calibrator(path_or_dict: str | os.PathLike[str] | dict[str, Any]) -> Calibrator:
    """Load a calibrator saved with ``Calibrator.save`` (or from its ``to_json()`` dict).

    Args:
        path_or_dict: a JSON file written by ``save`` or the dict ``to_json()`` returned.

    Returns:
        The calibrator (fitted when it was saved fitted), of the class named in the JSON.

    Raises:
        GencalInputError: not a saved calibrator, or an unknown name.

    Example:
        >>> cal = get_calibrator("ts", t_max=50.0)
        >>> load_calibrator(cal.to_json()).t_max
        50.0
    """
    if isinstance(path_or_dict, dict):
        d = path_or_dict
    else:
        d = json.loads(Path(path_or_dict).read_text(encoding="utf-8"))
    if not isinstance(d, dict) or "name" not in d:
        raise GencalInputError("not a saved gencal calibrator: no 'name' field")
    _ensure_registered()
    name = d["name"]
    if name not in _REGISTRY:
        raise GencalInputError(f"saved calibrator has unknown name {name!r}")
    return _REGISTRY[name].from_json(d)
