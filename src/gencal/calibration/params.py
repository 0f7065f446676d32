"""Declared parameter constraints of the calibrators (scikit-learn's ``_parameter_constraints``).

Each calibrator declares, per constructor parameter, a list of constraints; a value must meet
one of them. :func:`validate_params` checks them when a calibrator is built by
:func:`~gencal.calibration.get_calibrator` and again at ``fit`` (after ``set_params``), and names
the parameter and the allowed values when a value fails.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gencal._checks import GencalInputError

__all__ = ["Interval", "Options", "SequenceOf", "validate_params"]


@dataclass(frozen=True)
class Interval:
    """A real (``kind=float``) or integer (``kind=int``) number in an interval.

    Args:
        kind: ``int`` (integers only; ``bool`` is rejected) or ``float`` (any real number).
        low: lower bound or ``None``.
        high: upper bound or ``None``.
        closed: which ends belong to the interval: ``"both"``, ``"left"``, ``"right"``,
            ``"neither"``. NaN and infinities never do.

    Example:
        >>> Interval(float, 0, None, "neither").accepts(0.5), str(Interval(int, 1, None, "left"))
        (True, 'an int in [1, inf)')
    """

    kind: type
    low: float | None
    high: float | None
    closed: Literal["both", "left", "right", "neither"] = "both"

    def accepts(self, v: Any) -> bool:
        """Whether ``v`` meets the constraint."""
        if isinstance(v, bool):
            return False
        if self.kind is int and not isinstance(v, numbers.Integral):
            return False
        if not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
            return False
        lo_ok = self.low is None or (
            v >= self.low if self.closed in ("both", "left") else v > self.low
        )
        hi_ok = self.high is None or (
            v <= self.high if self.closed in ("both", "right") else v < self.high
        )
        return lo_ok and hi_ok

    def __str__(self) -> str:
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        return f"{'an int' if self.kind is int else 'a float'} in {left}{lo}, {hi}{right}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (compared with ``==``; ``bool`` and numbers kept apart).

    Args:
        *values: the allowed values.

    Example:
        >>> Options("nll", "ece").accepts("nll"), str(Options("nll", "ece"))
        (True, "one of 'nll', 'ece'")
    """

    values: tuple[Any, ...]

    def __init__(self, *values: Any) -> None:
        object.__setattr__(self, "values", values)

    def accepts(self, v: Any) -> bool:
        """Whether ``v`` is one of the options."""
        if not isinstance(v, (str, numbers.Number)):
            return False
        return any(v == o and isinstance(v, bool) == isinstance(o, bool) for o in self.values)

    def __str__(self) -> str:
        if len(self.values) == 1:
            return repr(self.values[0])
        return "one of " + ", ".join(map(repr, self.values))


@dataclass(frozen=True)
class SequenceOf:
    """A non-empty list or tuple whose items all meet ``item``.

    Args:
        item: the constraint every item must meet.

    Example:
        >>> SequenceOf(Interval(float, 0, None, "neither")).accepts([0.5, 2.0])
        True
    """

    item: Interval | Options

    def accepts(self, v: Any) -> bool:
        """Whether ``v`` is a non-empty sequence of accepted items."""
        if isinstance(v, str) or not isinstance(v, Sequence) or len(v) == 0:
            return False
        return all(self.item.accepts(x) for x in v)

    def __str__(self) -> str:
        return f"a non-empty list of {self.item}"


Constraint = Interval | Options | SequenceOf | type[bool] | None


def _accepts(c: Constraint, v: Any) -> bool:
    if c is None:
        return v is None
    if c is bool:
        return isinstance(v, bool)
    return c.accepts(v)  # type: ignore[union-attr]


def _describe(c: Constraint) -> str:
    if c is None:
        return "None"
    if c is bool:
        return "a bool"
    return str(c)


def validate_params(
    owner: str, params: Mapping[str, Any], constraints: Mapping[str, Sequence[Constraint]]
) -> None:
    """Check every constrained parameter; raise naming the first that fails.

    Args:
        owner: the class name used in the message.
        params: parameter values (``get_params()``).
        constraints: per parameter, the constraints of which one must hold.

    Raises:
        GencalInputError: ``"<owner>: parameter 'x' must be <allowed>; got <value>"``.

    Example:
        >>> validate_params("TS", {"solver": "adam"}, {"solver": [Options("newton", "brent")]})
        Traceback (most recent call last):
        ...
        gencal._checks.GencalInputError: TS: parameter 'solver' must be one of 'newton', 'brent'; got 'adam'
    """
    for name, allowed in constraints.items():
        if name not in params:
            continue
        v = params[name]
        if not any(_accepts(c, v) for c in allowed):
            what = " or ".join(_describe(c) for c in allowed)
            raise GencalInputError(f"{owner}: parameter {name!r} must be {what}; got {v!r}")
