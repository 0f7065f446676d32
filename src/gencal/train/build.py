"""Build a run's parts from its config: model, loss, loggers and callbacks.

- ``model``: a zoo model by ``model.name`` (:func:`gencal.models.get_model`), or any importable
  ``nn.Module`` class or factory by ``model._target_`` (``num_classes`` and ``in_channels`` are
  passed when it accepts them).
- ``loss``: :func:`gencal.losses.get_loss` by ``loss.name``.
- ``logger``: the CSV log that every run writes (``<run_dir>/logs/metrics.csv``, kept whole
  across a resume: :mod:`gencal.train.csv_log`) plus the
  configured logger, built with ``hydra.utils.instantiate`` and ``save_dir=<run_dir>`` when its
  config leaves ``save_dir`` out.
- ``callbacks``: each entry of the ``callbacks`` mapping built with ``hydra.utils.instantiate``
  (``null`` entries skipped); a ``ModelCheckpoint`` without ``dirpath`` writes to
  ``<run_dir>/ckpt``.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from gencal.train.identity import plain_config

if TYPE_CHECKING:
    from gencal.train.csv_log import ResumePoint

__all__ = ["build_callbacks", "build_loggers", "build_loss", "build_model"]


def _plain(node: Any) -> dict[str, Any]:
    """A config node as a plain dict (``{}`` for a missing node)."""
    return {} if node is None else dict(plain_config(node))


def _accepts(fn: Any, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _target(path: str) -> Any:
    from hydra.utils import get_object

    return get_object(str(path))


def build_loss(cfg: DictConfig):
    """The loss of ``cfg.loss``: ``get_loss(loss.name, **rest)``, with value checks off.

    The trainer checks the loss itself (a NaN or inf loss stops training), so the loss's
    per-call input checks (``validate_args``) are switched off where it has them.

    Args:
        cfg: a composed config.

    Returns:
        The loss module.

    Example:
        >>> from gencal.train import compose_config
        >>> build_loss(compose_config(["loss=focal", "loss.gamma=3"]))
        FocalLoss(gamma=3.0, reduction='mean', ignore_index=-100)
    """
    from gencal.losses import get_loss

    kw = _plain(cfg.loss)
    name = str(kw.pop("name"))
    kw.setdefault("validate_args", False)
    try:
        return get_loss(name, **kw)
    except TypeError:
        kw.pop("validate_args")
        return get_loss(name, **kw)


def build_model(cfg: DictConfig, num_classes: int, in_channels: int):
    """The model of ``cfg.model``: by ``_target_`` (any importable factory) or zoo ``name``.

    Args:
        cfg: a config with a ``model`` node.
        num_classes: passed to the model when it accepts it (and the config does not set it).
        in_channels: passed the same way.

    Returns:
        The ``nn.Module``.

    Example:
        >>> from omegaconf import OmegaConf
        >>> cfg = OmegaConf.create({"model": {"_target_": "torch.nn.Linear", "in_features": 4,
        ...                                   "out_features": 3}})
        >>> build_model(cfg, num_classes=3, in_channels=1)
        Linear(in_features=4, out_features=3, bias=True)
    """
    kw = _plain(cfg.model)
    if "_target_" in kw:
        from hydra.utils import instantiate

        fn = _target(kw["_target_"])
        extra = {
            k: v
            for k, v in (("num_classes", num_classes), ("in_channels", in_channels))
            if k not in kw and _accepts(fn, k)
        }
        kw.pop("name", None)
        return instantiate(kw, **extra)
    from gencal.models import get_model

    name = str(kw.pop("name"))
    return get_model(name, num_classes=num_classes, in_channels=in_channels, **kw)


def build_loggers(cfg: DictConfig, run_dir: Path, resume: ResumePoint | None = None) -> list:
    """The CSV logger of ``<run_dir>/logs`` and the configured ``logger`` (if any).

    Args:
        cfg: a composed config; ``cfg.logger`` is ``{}`` or a node with a ``_target_``.
        run_dir: the run folder; the configured logger gets ``save_dir=<run_dir>``
            (MLflow: ``<run_dir>/mlruns``) unless its config sets one.
        resume: where the run resumes (:func:`gencal.train.csv_log.resume_point`); the CSV log
            keeps the rows of the epochs before it. None: a fresh start.

    Returns:
        The Lightning loggers, the CSV logger first.

    Example:
        >>> from gencal.train import compose_config
        >>> loggers = build_loggers(compose_config(["logger=tensorboard"]), Path("runs/r"))
        >>> [type(lg).__name__ for lg in loggers]
        ['ResumableCSVLogger', 'TensorBoardLogger']
        >>> Path(loggers[0].log_dir).as_posix(), Path(loggers[1].save_dir).as_posix()
        ('runs/r/logs', 'runs/r')
    """
    from hydra.utils import instantiate

    from gencal.train.csv_log import ResumableCSVLogger

    loggers: list = [ResumableCSVLogger(run_dir, resume)]
    node = _plain(cfg.get("logger"))
    if node.get("_target_"):
        kw: dict[str, Any] = {}
        mlflow = str(node["_target_"]).rsplit(".", 1)[-1] == "MLFlowLogger"
        if "save_dir" not in node and _accepts(_target(node["_target_"]), "save_dir"):
            kw["save_dir"] = str(run_dir / "mlruns" if mlflow else run_dir)
        if mlflow and not node.get("tracking_uri"):
            # MLflow 3 refuses its local file store unless this is set; a run's own folder is
            # the store that configs/logger/mlflow.yaml asks for (no server, no database)
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        loggers.append(instantiate(node, **kw))
    return loggers


def build_callbacks(cfg: DictConfig, run_dir: Path) -> list:
    """The configured Lightning callbacks (``null`` entries skipped).

    Args:
        cfg: a composed config; ``cfg.callbacks`` maps names to nodes with a ``_target_``.
        run_dir: the run folder; a callback that takes ``dirpath`` and is given none writes to
            ``<run_dir>/ckpt``.

    Returns:
        The callbacks, in the config's order.

    Raises:
        GencalInputError: an entry is not a mapping with a ``_target_``.

    Example:
        >>> from gencal.train import compose_config
        >>> cbs = build_callbacks(compose_config(["callbacks=default"]), Path("runs/r"))
        >>> [type(cb).__name__ for cb in cbs]
        ['ModelCheckpoint', 'LearningRateMonitor']
        >>> Path(cbs[0].dirpath).relative_to(Path.cwd()).as_posix(), cbs[0].monitor
        ('runs/r/ckpt', 'cal/nll')
    """
    from hydra.utils import instantiate

    out = []
    for key, node in _plain(cfg.get("callbacks")).items():
        if node is None:
            continue
        if not isinstance(node, dict) or "_target_" not in node:
            from gencal._checks import GencalInputError

            raise GencalInputError(f"callbacks.{key}: expected a mapping with a _target_")
        kw: dict[str, Any] = {}
        if "dirpath" not in node and _accepts(_target(node["_target_"]), "dirpath"):
            kw["dirpath"] = str(run_dir / "ckpt")
        out.append(instantiate(node, **kw))
    return out
