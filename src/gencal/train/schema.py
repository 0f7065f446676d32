"""Check a composed training config before anything runs.

Hydra already refuses an override of a key that does not exist (``trainer.epoch=3``) and an
unknown option of a group (``loss=nope``). This module checks what Hydra cannot know: the
types and ranges of the values (``trainer.epochs=abc``, ``data.cal_fraction=2``), the names
that select code (``data.name``, ``model.name``, ``loss.name``, ``optimizer._target_``), and
the keyword arguments handed to that code (``loss.gamma=-1`` is refused by the loss itself,
``+loss.foo=1`` names the loss's parameters). Every problem is reported at once, one line per
key, naming the key, the value and what is allowed.

Rules are declared in :data:`RULES` as ``dotted key -> rule``; a key absent from the config is
not checked (presets may leave it out).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gencal._checks import GencalInputError

__all__ = ["RULES", "ConfigError", "validate_config"]


class ConfigError(GencalInputError):
    """A composed config holds values that cannot run; ``problems`` lists them (one per key).

    Args:
        problems: one line per bad key, naming the key, the value and what is allowed.

    Example:
        >>> err = ConfigError(["seed=-1: expected an integer >= 0", "trainer.epochs=0: ..."])
        >>> len(err.problems), str(err).split(":")[0], isinstance(err, ValueError)
        (2, 'invalid config (2 problems)', True)
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        head = (
            "invalid config: "
            if len(problems) == 1
            else f"invalid config ({len(problems)} problems): "
        )
        super().__init__(head + "; ".join(self.problems))


@dataclass(frozen=True)
class Rule:
    """What a config value may be: its kind, its bounds, and whether ``null`` is allowed.

    Args:
        kind: ``int``, ``float`` (an int is accepted), ``bool``, ``str`` (non-empty) or
            ``choice`` (one of ``choices``, compared as strings).
        lo: inclusive lower bound.
        hi: inclusive upper bound.
        gt: exclusive lower bound.
        lt: exclusive upper bound.
        choices: the allowed values of a ``choice``.
        null: ``None`` is allowed.

    Example:
        >>> rule = Rule("float", gt=0, lt=1)
        >>> rule.check(0.25) is None, rule.check(1.0), rule.check("x")
        (True, 'a number > 0 and < 1', 'a number > 0 and < 1')
        >>> Rule("int", lo=1, null=True).describe()
        'an integer >= 1 or null'
        >>> Rule("choice", choices=("exp", "step")).check("log")
        'one of exp, step'
    """

    kind: str
    lo: float | None = None
    hi: float | None = None
    gt: float | None = None
    lt: float | None = None
    choices: tuple[str, ...] = ()
    null: bool = False

    def check(self, value: Any) -> str | None:
        """``None`` if ``value`` is allowed, else what is allowed."""
        if value is None:
            return None if self.null else self.describe()
        if self.kind == "bool":
            return None if isinstance(value, bool) else self.describe()
        if self.kind == "choice":
            return None if str(value) in self.choices else self.describe()
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return self.describe()
        elif self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return self.describe()
        elif self.kind == "str":
            return None if isinstance(value, str) and value else self.describe()
        v = float(value)
        bad = (
            (self.lo is not None and v < self.lo)
            or (self.hi is not None and v > self.hi)
            or (self.gt is not None and v <= self.gt)
            or (self.lt is not None and v >= self.lt)
        )
        return self.describe() if bad else None

    def describe(self) -> str:
        """What is allowed, in words (``"an integer >= 1"``)."""
        if self.kind == "choice":
            text = "one of " + ", ".join(self.choices)
        else:
            noun = {"int": "an integer", "float": "a number", "bool": "true or false"}
            text = noun.get(self.kind, "a non-empty string")
            bounds = []
            if self.lo is not None:
                bounds.append(f">= {self.lo:g}")
            if self.gt is not None:
                bounds.append(f"> {self.gt:g}")
            if self.hi is not None:
                bounds.append(f"<= {self.hi:g}")
            if self.lt is not None:
                bounds.append(f"< {self.lt:g}")
            if bounds:
                text += " " + " and ".join(bounds)
        return text + (" or null" if self.null else "")


_PRECISIONS = (
    "auto",
    "32-true",
    "32",
    "64-true",
    "64",
    "16-mixed",
    "16",
    "bf16-mixed",
    "bf16",
    "16-true",
    "bf16-true",
)

#: dotted key -> rule, for the keys whose values gencal reads itself
RULES: dict[str, Rule] = {
    "seed": Rule("int", lo=0),
    "data.cal_fraction": Rule("float", gt=0, lt=1),
    "data.batch_size": Rule("int", lo=1),
    "data.eval_batch_size": Rule("int", lo=1),
    "data.loader": Rule("choice", choices=("memory", "stream")),
    "data.num_workers": Rule("int", lo=0),
    "data.train_per_class": Rule("int", lo=1, null=True),
    "data.long_tail.imbalance_factor": Rule("float", lo=1),
    "data.long_tail.profile": Rule("choice", choices=("exp", "step")),
    "data.augment.crop_padding": Rule("int", lo=0),
    "data.augment.flip": Rule("bool"),
    "data.augment.mixup_alpha": Rule("float", lo=0),
    "trainer.epochs": Rule("int", lo=1),
    "trainer.grad_clip": Rule("float", gt=0, null=True),
    "trainer.precision": Rule("choice", choices=_PRECISIONS),
    "trainer.accelerator": Rule("choice", choices=("auto", "cpu", "gpu", "cuda", "mps", "tpu")),
    "trainer.num_nodes": Rule("int", lo=1),
    "trainer.strategy": Rule("str"),
    "trainer.deterministic": Rule("bool"),
    "trainer.threads": Rule("int", lo=0),
    "trainer.channels_last": Rule("bool"),
    "trainer.val_every": Rule("int", lo=1),
    "trainer.check_finite": Rule("bool"),
    "trainer.progress_bar": Rule("bool"),
    "optimizer.lr": Rule("float", gt=0),
    "optimizer.weight_decay": Rule("float", lo=0),
    "optimizer.momentum": Rule("float", lo=0, lt=1),
    "scheduler.warmup_epochs": Rule("int", lo=0),
    "scheduler.gamma": Rule("float", gt=0, hi=1),
    "scheduler.min_lr": Rule("float", lo=0),
}

_MISSING = object()


def _get(tree: Mapping[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _check_name(tree: Mapping[str, Any], key: str, names: Callable[[], list[str]]) -> str | None:
    value = _get(tree, key)
    if value is _MISSING:
        return None
    allowed = names()
    if str(value) in allowed or (key == "data.name" and str(value).split("/")[0] in allowed):
        return None
    return f"{key}={value!r}: unknown; allowed: {', '.join(allowed)}"


def _import(target: str) -> Any:
    module, _, attr = str(target).rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _check_target(tree: Mapping[str, Any], group: str, bound: Sequence[str]) -> list[str]:
    """``<group>._target_`` importable and its other keys accepted by its signature."""
    node = _get(tree, group)
    if not isinstance(node, Mapping) or "_target_" not in node:
        return []
    target = node["_target_"]
    try:
        fn = _import(target)
    except (ImportError, AttributeError, ValueError) as exc:
        return [f"{group}._target_={target!r}: cannot be imported ({exc})"]
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return []
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return []
    skip = {"_target_", "_partial_", "_convert_", "_recursive_", "interval", *bound}
    unknown = [k for k in node if k not in skip and k not in params]
    if not unknown:
        return []
    accepted = [p for p in params if p not in bound and p != "self"]
    return [
        f"{group}.{k}: not a parameter of {target} (parameters: {', '.join(accepted)})"
        for k in unknown
    ]


def _check_loss(tree: Mapping[str, Any]) -> list[str]:
    loss = _get(tree, "loss")
    if not isinstance(loss, Mapping) or "name" not in loss:
        return []
    from gencal.losses import get_loss, list_losses

    if str(loss["name"]) not in list_losses():
        return []  # reported by the name check
    kwargs = {k: v for k, v in loss.items() if k != "name"}
    try:
        get_loss(str(loss["name"]), **kwargs)
    except (TypeError, ValueError) as exc:
        return [f"loss ({loss['name']}): {exc}"]
    return []


def coerce_loss_numbers(cfg: Any) -> None:
    """Write the loss's float hyper-parameters given as integers as floats, in place.

    ``loss.lam=0`` and ``loss.lam=0.0`` are one setting; without this they would be two run
    identities (the digest hashes the config's JSON, where ``2`` and ``2.0`` differ). Parameters
    annotated ``float`` (or a sequence of floats) in the loss's constructor are converted; any
    other value is left as it is (:func:`validate_config` reports bad ones).

    Args:
        cfg: a composed config (``DictConfig``, changed in place).

    Example:
        >>> from omegaconf import OmegaConf
        >>> cfg = OmegaConf.create({"loss": {"name": "flsd53", "gammas": [5, 3], "thresholds": [0.2]}})
        >>> coerce_loss_numbers(cfg)
        >>> list(cfg.loss.gammas)
        [5.0, 3.0]
    """
    import inspect

    from omegaconf import ListConfig, open_dict

    from gencal.losses.registry import _REGISTRY

    loss = cfg.get("loss") if hasattr(cfg, "get") else None
    cls = _REGISTRY.get(str(loss.get("name"))) if loss is not None else None
    if cls is None:
        return
    params = inspect.signature(cls.__init__).parameters

    def as_float(v: Any) -> Any:
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v

    with open_dict(loss):
        for key in list(loss.keys()):
            if key not in params:
                continue
            ann = str(params[key].annotation).replace("typing.", "")
            value = loss[key]
            if ann.startswith("float"):
                loss[key] = as_float(value)
            elif ann.startswith("Sequence[float]") and isinstance(value, (list, ListConfig)):
                loss[key] = [as_float(v) for v in value]


def validate_config(cfg: Any) -> None:
    """Raise :class:`ConfigError` listing every value of ``cfg`` that cannot run.

    Args:
        cfg: a composed config (``DictConfig``) or a plain nested mapping.

    Raises:
        ConfigError: one message per bad key, naming the key, the value and what is allowed.

    Example:
        >>> validate_config({"seed": 0, "trainer": {"epochs": 3}})
        >>> try:
        ...     validate_config({"seed": 0, "trainer": {"epochs": "abc"}})
        ... except ConfigError as err:
        ...     print(err)
        invalid config: trainer.epochs='abc': expected an integer >= 1
    """
    from omegaconf.errors import OmegaConfBaseException

    from gencal.train.identity import plain_config

    try:
        tree = plain_config(cfg)
    except OmegaConfBaseException as exc:  # e.g. a mandatory value (???) left unset
        key = getattr(exc, "full_key", None) or "?"
        raise ConfigError([f"{key}: {str(exc).splitlines()[0]}"]) from exc
    problems: list[str] = []
    for key, rule in RULES.items():
        value = _get(tree, key)
        if value is _MISSING:
            continue
        allowed = rule.check(value)
        if allowed is not None:
            problems.append(f"{key}={value!r}: expected {allowed}")
    if isinstance(_get(tree, "trainer.devices"), (bool, float)) or (
        isinstance(_get(tree, "trainer.devices"), int) and _get(tree, "trainer.devices") < 1
    ):
        problems.append(
            f"trainer.devices={_get(tree, 'trainer.devices')!r}: expected an integer >= 1"
        )

    from gencal.data import list_datasets
    from gencal.losses import list_losses
    from gencal.models import list_models

    named = [("data.name", list_datasets), ("loss.name", list_losses)]
    if _get(tree, "model._target_") is _MISSING:
        named.append(("model.name", list_models))
    for key, names in named:
        msg = _check_name(tree, key, names)
        if msg:
            problems.append(msg)
    problems += _check_target(tree, "model", ("num_classes", "in_channels"))
    problems += _check_target(tree, "optimizer", ("params",))
    problems += _check_target(tree, "scheduler", ("optimizer",))
    problems += _check_loss(tree)
    if problems:
        raise ConfigError(problems)
