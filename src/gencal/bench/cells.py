"""Rows of the report: runs grouped by configuration, labelled by what sets them apart.

Two runs of a study belong to the same row (their metrics pool as seeds) exactly when their
semantic configs (:func:`gencal.train.identity.semantic_config`: the config without paths,
workers, logging, the grid and the report wording) are equal once ``seed`` is removed. Within
one (data, model) setting, the config keys whose values differ between rows become part of the
row label, so that a sweep over a hyper-parameter reads as such:

- keys of the loss (``loss.*``) that differ among runs of the same loss go in parentheses after
  the loss name: ``focal(gamma=2)``, ``gce(lam=0.5)``, except those at the value of the loss's
  preset (``configs/loss/<name>.yaml``): the runs of a loss at its preset keep the plain name
  (``gce`` beside ``gce(lam=0.5)``), so the comparisons a study names stay valid when a sweep of
  a hyper-parameter is added;
- any other differing key follows the name: ``ce epochs=30``.

Key names are shortened to their last component (``trainer.epochs`` -> ``epochs``) unless that is
ambiguous among the differing keys, in which case enough leading components are kept
(``optimizer.lr`` vs ``scheduler.lr``). A key missing from one config reads ``unset``.

The config of a run is the ``config`` field of its records when present, else the run folder's
``config.yaml``, else ``meta["config"]`` of its ``logits.npz``. Runs whose config cannot be
found keep the loss label of their records (the folder-name label of old runs).

Each labelled record gets ``loss`` = the row label, ``loss_name`` = the plain loss name and, for
rows of other losses, ``reference_row`` = the label of the reference-loss row with the same
settings outside the loss (what the paired tests compare it with).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["flatten_config", "label_rows", "load_run_config", "short_key_names"]

_UNSET = object()


def load_run_config(run_dir: Path) -> dict[str, Any] | None:
    """The saved config of a run folder: ``config.yaml``, else ``logits.npz``'s ``meta["config"]``.

    Args:
        run_dir: a run folder.

    Returns:
        The config as plain containers, or None when neither file holds one.

    Example:
        >>> import tempfile
        >>> run = Path(tempfile.mkdtemp())
        >>> load_run_config(run) is None
        True
        >>> _ = (run / "config.yaml").write_text("{seed: 1, loss: {name: gce}}")
        >>> load_run_config(run)
        {'seed': 1, 'loss': {'name': 'gce'}}
    """
    path = run_dir / "config.yaml"
    if path.is_file():
        import yaml

        try:
            cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            cfg = None
        if isinstance(cfg, dict):
            return cfg
    npz = run_dir / "logits.npz"
    if npz.is_file():
        import numpy as np

        try:
            with np.load(npz, allow_pickle=False) as z:
                cfg = json.loads(str(z["meta"])).get("config")
        except Exception:  # an unreadable meta only loses the row label
            cfg = None
        if isinstance(cfg, dict):
            return cfg
    return None


def flatten_config(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted leaf keys of a nested mapping; lists become tuples (hashable, comparable).

    Example:
        >>> flatten_config({"loss": {"name": "focal", "gamma": 2}, "hidden": [8, 8]})
        {'loss.name': 'focal', 'loss.gamma': 2, 'hidden': (8, 8)}
    """
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten_config(v, key + "."))
        elif isinstance(v, (list, tuple)):
            out[key] = tuple(
                json.dumps(x, sort_keys=True) if isinstance(x, (Mapping, list)) else x for x in v
            )
        else:
            out[key] = v
    return out


def short_key_names(keys: Sequence[str]) -> dict[str, str]:
    """Shortest unambiguous suffix of each dotted key (at least the last component).

    Example:
        >>> short_key_names(["trainer.epochs", "trainer.optimizer.lr", "trainer.scheduler.lr"])
        {'trainer.epochs': 'epochs', 'trainer.optimizer.lr': 'optimizer.lr', 'trainer.scheduler.lr': 'scheduler.lr'}
    """
    out = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            cand = ".".join(parts[-n:])
            if sum(1 for k in keys if k == cand or k.endswith("." + cand)) == 1:
                break
        out[key] = cand
    return out


def _fmt(v: Any) -> str:
    if v is _UNSET:
        return "unset"
    if v is None:
        return "null"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        short = f"{v:g}"
        return short if float(short) == v else repr(v)
    if isinstance(v, tuple):
        return "[" + ",".join(_fmt(x) for x in v) + "]"
    return str(v)


def _varying(
    runs: Sequence[str], flat: Mapping[str, Mapping[str, Any]], keep: Callable[[str], bool]
) -> list[str]:
    """The keys (passing ``keep``) whose values are not the same in all of ``runs``."""
    keys = dict.fromkeys(k for run in runs for k in flat[run] if keep(k))
    return [k for k in keys if len({repr(flat[run].get(k, _UNSET)) for run in runs}) > 1]


def _semantic(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The semantic config without ``seed``, flattened."""
    from gencal.train.identity import semantic_config

    flat = flatten_config(semantic_config(cfg))
    flat.pop("seed", None)
    return flat


def _loss_preset(name: str) -> dict[str, Any]:
    """The flattened preset of a loss (``configs/loss/<name>.yaml``), or ``{}``."""
    try:
        import yaml

        from gencal.train.config import configs_dir

        path = configs_dir() / "loss" / f"{name}.yaml"
        tree = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ImportError, FileNotFoundError, ValueError):
        return {}
    return flatten_config(tree) if isinstance(tree, dict) else {}


def _at_preset(value: Any, preset: Mapping[str, Any], key: str) -> bool:
    if key not in preset or value is _UNSET:
        return False
    want = preset[key]
    if isinstance(value, bool) or isinstance(want, bool):
        return value is want
    if isinstance(value, (int, float)) and isinstance(want, (int, float)):
        return float(value) == float(want)
    return value == want


def _loss_of(cfg: Mapping[str, Any] | None, record: Mapping[str, Any]) -> str:
    loss = cfg.get("loss") if cfg else None
    if isinstance(loss, Mapping) and loss.get("name"):
        return str(loss["name"])
    return str(record.get("loss_name") or record["loss"])


def label_rows(
    records: Sequence[dict[str, Any]],
    experiment_dir: str | Path | None = None,
    *,
    reference: str = "ce",
) -> list[dict[str, Any]]:
    """Copies of the records with row labels (see the module docstring).

    Args:
        records: evaluation records of one study.
        experiment_dir: the folder holding the run folders (``<experiment_dir>/<run>``), used to
            find configs of records without a ``config`` field; None to use only that field.
        reference: the loss the paired tests compare every other loss with.

    Returns:
        New record dicts (same order) with ``config`` (None where not found), ``loss``,
        ``loss_name`` and, where it exists, ``reference_row`` set. Labelling them again gives
        the same labels.

    Example:
        >>> def rec(loss, seed, **loss_keys):
        ...     cfg = {"seed": seed, "loss": {"name": loss, **loss_keys}, "trainer": {"epochs": 5}}
        ...     return {"data": "d", "model": "m", "loss": loss, "seed": seed,
        ...             "run": f"{loss}{loss_keys}{seed}", "config": cfg}
        >>> recs = [rec("ce", 0), rec("ce", 1), rec("focal", 0, gamma=1), rec("focal", 0, gamma=2)]
        >>> [(r["loss"], r.get("reference_row")) for r in label_rows(recs)]
        [('ce', None), ('ce', None), ('focal(gamma=1)', 'ce'), ('focal(gamma=2)', 'ce')]
        >>> [r["loss"] for r in label_rows([rec("focal", 0, gamma=1), rec("focal", 0, gamma=3.0)])]
        ['focal(gamma=1)', 'focal']
    """
    exp = Path(experiment_dir) if experiment_dir is not None else None
    configs: dict[str, dict[str, Any] | None] = {}
    for r in records:
        if r["run"] in configs:
            continue
        cfg = r.get("config")
        if not isinstance(cfg, Mapping) and exp is not None:
            cfg = load_run_config(exp / r["run"])
        configs[r["run"]] = dict(cfg) if isinstance(cfg, Mapping) else None

    flat = {run: _semantic(c) for run, c in configs.items() if c is not None}
    base = {r["run"]: _loss_of(configs[r["run"]], r) for r in records}
    by_setting: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in records:
        if r["run"] in flat and r["run"] not in by_setting[(r["data"], r["model"])]:
            by_setting[(r["data"], r["model"])].append(r["run"])

    presets = {name: _loss_preset(name) for name in set(base.values())}
    label: dict[str, str] = {}
    other: dict[str, tuple[tuple[str, str], ...]] = {}
    for runs in by_setting.values():
        outer = _varying(runs, flat, lambda k: k != "loss.name" and not k.startswith("loss."))
        outer_short = short_key_names(outer)
        inner: dict[str, list[str]] = {}
        for name in dict.fromkeys(base[run] for run in runs):
            same = [run for run in runs if base[run] == name]
            inner[name] = _varying(same, flat, lambda k: k != "loss.name" and k.startswith("loss."))
        for run in runs:
            keys = inner[base[run]]
            short = short_key_names([k.removeprefix("loss.") for k in keys])
            preset = presets[base[run]]
            args = [
                f"{short[k.removeprefix('loss.')]}={_fmt(flat[run].get(k, _UNSET))}"
                for k in keys
                if not _at_preset(flat[run].get(k, _UNSET), preset, k.removeprefix("loss."))
            ]
            other[run] = tuple((outer_short[k], _fmt(flat[run].get(k, _UNSET))) for k in outer)
            name = base[run] + (f"({', '.join(args)})" if args else "")
            label[run] = " ".join([name, *(f"{k}={v}" for k, v in other[run])])

    ref_of: dict[tuple[str, str, tuple[tuple[str, str], ...]], str] = {}
    for r in records:
        run = r["run"]
        if base[run] == reference:
            ref_of.setdefault(
                (r["data"], r["model"], other.get(run, ())), label.get(run, reference)
            )
    out = []
    for r in records:
        run = r["run"]
        new = dict(r)
        new["config"] = configs[run]
        new["loss_name"] = base[run]
        new["loss"] = label.get(run, str(r["loss"]))
        if base[run] != reference:
            ref = ref_of.get((r["data"], r["model"], other.get(run, ())))
            if ref is not None:
                new["reference_row"] = ref
        out.append(new)
    return out
