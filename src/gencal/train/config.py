"""Training configuration: where the Hydra configs live, composing them, naming run folders.

The configs are Hydra config groups (``data model loss trainer calibrator experiment``) in the
repository's ``configs/`` folder; the wheel ships the same folder as ``gencal/configs``.
:func:`compose_config` composes them without a Hydra app (tests, notebooks, ``gencal bench``);
:mod:`gencal.train.app` is the Hydra command-line app.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from gencal._checks import GencalInputError
from gencal.train.identity import DIGEST_LENGTH, run_digest
from gencal.train.schema import coerce_loss_numbers, validate_config

__all__ = [
    "compose_config",
    "compose_many",
    "config_groups",
    "configs_dir",
    "normalize_overrides",
    "override_key",
    "run_dir",
    "run_name",
    "to_config",
]

#: config groups whose option can be chosen by name (``loss=gce``, ``grid: {loss: [...]}``)
CONFIG_GROUPS = (
    "data",
    "model",
    "loss",
    "optimizer",
    "scheduler",
    "trainer",
    "logger",
    "callbacks",
    "calibrator",
    "experiment",
)


def configs_dir() -> Path:
    """The folder holding ``config.yaml`` and the config groups.

    The installed wheel's copy (``gencal/configs``) comes first, then the repository's
    ``configs/`` beside ``src/`` (editable installs and checkouts).

    Raises:
        FileNotFoundError: neither folder holds ``config.yaml``.

    Example:
        >>> root = configs_dir()
        >>> (root / "config.yaml").is_file(), (root / "loss" / "gce.yaml").is_file()
        (True, True)
    """
    pkg = Path(__file__).resolve().parents[1]  # .../gencal
    candidates = [pkg / "configs", pkg.parents[1] / "configs"]
    for cand in candidates:
        if (cand / "config.yaml").is_file():
            return cand
    raise FileNotFoundError(
        "gencal configs not found; looked in " + ", ".join(str(c) for c in candidates)
    )


def config_groups() -> dict[str, list[str]]:
    """Options of each config group, e.g. ``{"loss": ["ce", "focal", ...], ...}``.

    Returns:
        Group name -> sorted option names (the ``.yaml`` files of the group's folder), for the
        groups of :data:`CONFIG_GROUPS` found in :func:`configs_dir`.

    Example:
        >>> groups = config_groups()
        >>> "gce" in groups["loss"], "demo" in groups["experiment"], "digits" in groups["data"]
        (True, True, True)
    """
    root = configs_dir()
    return {
        g: sorted(p.stem for p in (root / g).glob("*.yaml"))
        for g in CONFIG_GROUPS
        if (root / g).is_dir()
    }


def compose_config(overrides: Sequence[str] = (), *, validate: bool = True) -> DictConfig:
    """Compose ``config.yaml`` with Hydra overrides, e.g. ``["experiment=demo", "loss=gce"]``.

    The overrides are recorded in the result's ``overrides`` key so that a sweep can recompose
    each grid point exactly as ``python -m gencal.train.app <overrides> loss=...`` would. The
    result is checked (:func:`gencal.train.schema.validate_config`): a bad value raises
    :class:`gencal.train.schema.ConfigError` naming the key and what is allowed.

    Args:
        overrides: Hydra overrides (``+experiment=NAME`` is read as ``experiment=NAME``, see
            :func:`normalize_overrides`).
        validate: check the composed config.

    Returns:
        The composed config.

    Raises:
        GencalInputError: Hydra cannot compose the overrides (unknown key or group option).
        ConfigError: a value cannot run (``validate=True``).

    Example:
        >>> cfg = compose_config(["experiment=demo", "loss=gce", "seed=2"])
        >>> cfg.data.name, cfg.model.name, cfg.loss.name, cfg.seed, cfg.trainer.epochs
        ('digits', 'mlp', 'gce', 2, 20)
        >>> list(cfg.overrides)
        ['experiment=demo', 'loss=gce', 'seed=2']
        >>> from gencal.train.schema import ConfigError
        >>> try:
        ...     compose_config(["data.cal_fraction=2"])
        ... except ConfigError as err:
        ...     print(err)
        invalid config: data.cal_fraction=2: expected a number > 0 and < 1
    """
    return compose_many([overrides], validate=validate)[0]


def override_key(override: str) -> str:
    """The key an override sets, without Hydra's ``+``/``++``/``~`` prefixes.

    Example:
        >>> override_key("++data.kwargs.download=true"), override_key("loss=gce")
        ('data.kwargs.download', 'loss')
    """
    return override.split("=", 1)[0].lstrip("+~")


def normalize_overrides(overrides: Sequence[str]) -> list[str]:
    """Accept the spellings users type for two overrides that Hydra is strict about.

    ``+experiment=NAME`` and ``experiment=NAME`` both pick a preset (the ``experiment`` group
    is in ``config.yaml``'s defaults list, so Hydra wants the form without ``+``), and
    ``data.kwargs.KEY=VALUE`` sets a loader option without ``+`` (``data.kwargs`` is a
    free-form dict, e.g. ``data.kwargs.download=true``).

    Args:
        overrides: Hydra overrides as typed.

    Returns:
        The overrides as Hydra accepts them.

    Example:
        >>> normalize_overrides(["+experiment=demo", "data.kwargs.download=true", "seed=1"])
        ['experiment=demo', '++data.kwargs.download=true', 'seed=1']
    """
    out = []
    for o in map(str, overrides):
        if o.startswith("+experiment="):
            o = o[1:]
        elif o.startswith("data.kwargs.") and "=" in o:
            o = "++" + o  # force-add, or set
        out.append(o)
    return out


def compose_many(
    override_lists: Sequence[Sequence[str]], *, validate: bool = True
) -> list[DictConfig]:
    """:func:`compose_config` for several override lists in one Hydra context.

    Each composed config is checked by :func:`gencal.train.schema.validate_config` unless
    ``validate=False``. Called inside a running Hydra app, it composes in a fresh Hydra
    context and restores the app's afterwards.

    Args:
        override_lists: one list of Hydra overrides per config.
        validate: check each composed config.

    Returns:
        The composed configs, in the order of ``override_lists``.

    Example:
        >>> cfgs = compose_many([["experiment=demo"], ["experiment=demo", "loss=focal"]])
        >>> [c.loss.name for c in cfgs]
        ['ce', 'focal']
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    was_initialized = GlobalHydra.instance().is_initialized()
    if was_initialized:  # e.g. called from inside a Hydra app: compose in a fresh context
        saved = GlobalHydra.instance().hydra
        GlobalHydra.instance().clear()
    out = []
    try:
        with initialize_config_dir(config_dir=str(configs_dir()), version_base="1.3"):
            for overrides in override_lists:
                overrides = normalize_overrides(overrides)
                try:
                    cfg = compose(config_name="config", overrides=overrides)
                except Exception as exc:
                    raise GencalInputError(
                        f"cannot compose the config with overrides {overrides}: "
                        + " ".join(str(exc).split())
                    ) from exc
                if validate:
                    validate_config(cfg)
                coerce_loss_numbers(cfg)
                with open_dict(cfg):
                    cfg.overrides = overrides
                out.append(cfg)
    finally:
        if was_initialized:
            GlobalHydra.instance().initialize(saved)
    return out


def to_config(cfg: Any) -> DictConfig:
    """Accept a DictConfig, a plain dict or a list of overrides and return a DictConfig.

    A DictConfig is returned as it is, a dict is wrapped (not validated), and a list or tuple
    is composed by :func:`compose_config`.

    Raises:
        GencalInputError: ``cfg`` is of another type.

    Example:
        >>> to_config({"seed": 3}).seed
        3
        >>> to_config(["experiment=demo", "loss=gce"]).loss.name
        'gce'
    """
    if isinstance(cfg, DictConfig):
        return cfg
    if isinstance(cfg, dict):
        return OmegaConf.create(cfg)
    if isinstance(cfg, (list, tuple)):
        return compose_config(cfg)
    raise GencalInputError(
        f"cfg: expected a DictConfig, a dict or a list of overrides, got {type(cfg).__name__}"
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "-", str(text)).strip("-")


def run_name(cfg: DictConfig) -> str:
    """``<data>__<model>__<loss>__s<seed>-<digest>`` (or ``cfg.run_name`` when it is set).

    ``<digest>`` is the start of :func:`gencal.train.identity.run_digest`: two configs that
    differ in any key that can change the result (``loss.gamma``, ``trainer.epochs``, the
    optimiser, ...) get two folders, and a change that cannot (threads, output paths, logging)
    keeps the folder. A long-tailed training set adds ``-lt<imbalance factor>`` to the data
    part and a balanced subset ``-n<images per class>``, so that such runs read apart. A ``run_name`` set by hand is used
    as it is; :func:`gencal.train.train_run` still refuses a folder that holds another config.

    Args:
        cfg: a composed config.

    Returns:
        The run folder's name (characters outside ``[A-Za-z0-9_.=+-]`` become ``-``).

    Example:
        >>> base = ["experiment=demo", "loss=gce", "seed=1"]
        >>> name = run_name(compose_config(base))
        >>> name.rsplit("-", 1)[0], len(name.rsplit("-", 1)[1])
        ('digits__mlp__gce__s1', 8)
        >>> run_name(compose_config([*base, "trainer.threads=2"])) == name  # not semantic
        True
        >>> run_name(compose_config([*base, "trainer.epochs=3"])) == name
        False
        >>> run_name(compose_config(["data.long_tail={imbalance_factor: 10}"])).split("__")[0]
        'digits-lt10'
    """
    if cfg.get("run_name"):
        return _slug(cfg.run_name)
    data = _slug(cfg.data.name)
    lt = cfg.data.get("long_tail")
    if lt:
        data += f"-lt{lt.get('imbalance_factor')}"
    if cfg.data.get("train_per_class"):
        data += f"-n{int(cfg.data.train_per_class)}"
    digest = run_digest(cfg)[:DIGEST_LENGTH]
    model = cfg.model.get("name") or str(cfg.model.get("_target_", "model")).rsplit(".", 1)[-1]
    return f"{data}__{_slug(model)}__{_slug(cfg.loss.name)}__s{int(cfg.seed)}-{digest}"


def run_dir(cfg: DictConfig) -> Path:
    """``<output_root>/<experiment>/<run_name(cfg)>``.

    Example:
        >>> cfg = compose_config(["experiment=demo", "output_root=/tmp/runs"])
        >>> run_dir(cfg).parent.as_posix(), run_dir(cfg).name == run_name(cfg)
        ('/tmp/runs/demo', True)
    """
    return Path(str(cfg.output_root)) / _slug(cfg.experiment) / run_name(cfg)
