"""A run's identity: a digest of the part of its config that can change its result.

Two configs describe the same run exactly when their *semantic* configs are equal. The semantic
config is the resolved config without the keys listed in :data:`NON_SEMANTIC_KEYS`: where
results are written (``output_root``, ``experiment``, ``run_name``), how a sweep is driven
(``grid``, ``overrides``, ``slurm``), what is evaluated after training (``calibrators``, the
``report`` wording), logging and progress (``logger``, the observing ``callbacks``
``best_checkpoint``, ``lr_monitor`` and ``progress_bar``, ``trainer.progress_bar``)
and the placement of the work (``trainer.threads``, ``trainer.accelerator``, ``data.root``,
``data.num_workers``, ...). Everything else is part of the identity: data and its long-tail and
split settings, augmentation, batch size, model, loss and its hyper-parameters, optimiser,
schedule, epochs, precision, devices (the global batch), and the seed. A key that is added to
the configs later is part of the identity unless it is listed here: forgetting to list a key
costs a retrained run, never a wrong result.

The digest is the SHA-256 of the semantic config written as canonical JSON (sorted keys, no
spaces); its first :data:`DIGEST_LENGTH` hex digits name the run folder
(``<data>__<model>__<loss>__s<seed>-<digest>``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DIGEST_LENGTH",
    "NON_SEMANTIC_KEYS",
    "config_diff",
    "plain_config",
    "run_digest",
    "semantic_config",
]

#: hex digits of the digest in a run folder's name
DIGEST_LENGTH = 8

#: dotted config keys that never change a run's result
NON_SEMANTIC_KEYS: tuple[str, ...] = (
    "output_root",
    "experiment",
    "run_name",
    "grid",
    "overrides",
    "slurm",
    "calibrators",
    "report",
    "logger",
    "callbacks.best_checkpoint",
    "callbacks.lr_monitor",
    "callbacks.progress_bar",
    "hydra",
    "data.root",
    "data.num_workers",
    "data.eval_batch_size",
    "data.kwargs.download",
    "trainer.threads",
    "trainer.progress_bar",
    "trainer.accelerator",
    "trainer.strategy",
    "trainer.val_every",
    "trainer.check_finite",
)


def plain_config(cfg: Any) -> Any:
    """A resolved plain-Python copy of ``cfg`` (DictConfig, dict, list or scalar).

    Example:
        >>> from omegaconf import OmegaConf
        >>> plain_config(OmegaConf.create({"a": 1, "b": "${a}"}))
        {'a': 1, 'b': 1}
    """
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(cfg, (DictConfig, ListConfig)):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf ships with the train extra
        pass
    if isinstance(cfg, Mapping):
        return {str(k): plain_config(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return [plain_config(v) for v in cfg]
    return cfg


def _drop(tree: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    node: Any = tree
    for p in parents:
        node = node.get(p) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(last, None)


def semantic_config(cfg: Any) -> dict[str, Any]:
    """The config without its non-semantic keys (:data:`NON_SEMANTIC_KEYS`).

    Args:
        cfg: a run's config: an OmegaConf ``DictConfig`` or a plain nested mapping (for example
            ``meta["config"]`` of a saved run).

    Returns:
        A new nested ``dict`` (resolved, plain Python values).

    Example:
        >>> semantic_config({"seed": 1, "output_root": "runs", "trainer": {"epochs": 5, "threads": 2}})
        {'seed': 1, 'trainer': {'epochs': 5}}
    """
    tree = plain_config(cfg)
    if not isinstance(tree, dict):
        raise TypeError(f"cfg: expected a mapping, got {type(cfg).__name__}")
    for key in NON_SEMANTIC_KEYS:
        _drop(tree, key)
    # callbacks switched off (null) are absent, and so is a callbacks node left empty: a config
    # with only observing callbacks is the same run as one without any
    callbacks = tree.get("callbacks")
    if isinstance(callbacks, dict):
        tree["callbacks"] = {k: v for k, v in callbacks.items() if v is not None}
        if not tree["callbacks"]:
            del tree["callbacks"]
    return tree


def run_digest(cfg: Any) -> str:
    """The run's identity: hex SHA-256 of its semantic config as canonical JSON.

    Args:
        cfg: a run's config (``DictConfig`` or nested mapping).

    Returns:
        64 hex digits; run folders use the first :data:`DIGEST_LENGTH`.

    Example:
        >>> cfg = {"seed": 0, "loss": {"name": "focal", "gamma": 2.0}, "trainer": {"threads": 1}}
        >>> run_digest(cfg) == run_digest({**cfg, "loss": {"name": "focal", "gamma": 3.0}})
        False
        >>> run_digest(cfg) == run_digest({**cfg, "trainer": {"threads": 8}, "output_root": "x"})
        True
    """
    text = json.dumps(semantic_config(cfg), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict) and tree:
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: tree}


def config_diff(a: Any, b: Any) -> dict[str, tuple[Any, Any]]:
    """Dotted semantic keys whose values differ between two configs: ``{key: (a, b)}``.

    A key missing on one side shows as ``None`` there.

    Example:
        >>> config_diff({"seed": 0, "loss": {"gamma": 2}}, {"seed": 0, "loss": {"gamma": 3}})
        {'loss.gamma': (2, 3)}
    """
    fa, fb = _flatten(semantic_config(a)), _flatten(semantic_config(b))
    return {
        k: (fa.get(k), fb.get(k)) for k in sorted(fa.keys() | fb.keys()) if fa.get(k) != fb.get(k)
    }
