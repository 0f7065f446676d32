"""One training run: ``train_run(cfg) -> run_dir`` and ``load_run(run_dir) -> RunLogits``.

A run folder ``<output_root>/<experiment>/<data>__<model>__<loss>__s<seed>-<digest>`` holds

- ``config.yaml``: the resolved config (written first);
- ``ckpt/last.ckpt``: the checkpoint of the last finished epoch (atomic; a rerun resumes from it);
- ``logs/metrics.csv``: per-epoch ``train/<part>`` and ``cal/acc|nll|ece``;
- ``logits.npz``: written last, atomically: ``cal_logits cal_labels test_logits test_labels``
  (original sample order) and ``meta`` (a JSON string: config, code version, class names,
  groups, training time, epochs). Its presence marks the run finished: ``train_run`` then
  returns at once.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from gencal._checks import GencalInputError
from gencal.io import atomic_write_text
from gencal.train.build import build_callbacks, build_loggers, build_loss, build_model
from gencal.train.config import run_dir, to_config

__all__ = [
    "RunConfigMismatchError",
    "RunLogits",
    "RunNotFinishedError",
    "build_module",
    "check_run_identity",
    "code_version",
    "is_finished",
    "load_run",
    "resolve_threads",
    "train_run",
]

LOGITS_FILE = "logits.npz"
CONFIG_FILE = "config.yaml"
_KEYS = ("cal_logits", "cal_labels", "test_logits", "test_labels", "meta")


class RunNotFinishedError(FileNotFoundError):
    """A run folder has no (readable) ``logits.npz``.

    Example:
        >>> import tempfile
        >>> try:
        ...     load_run(tempfile.mkdtemp())
        ... except RunNotFinishedError as err:
        ...     print(str(err).split(": ", 1)[1].split(";")[0])
        no saved logits
    """


class RunConfigMismatchError(GencalInputError):
    """A run folder holds a run of another config (its saved ``config.yaml`` differs).

    Raised by :func:`check_run_identity` (see its example).

    Example:
        >>> issubclass(RunConfigMismatchError, ValueError)
        True
    """


def check_run_identity(rdir: str | os.PathLike, cfg: Any) -> None:
    """Raise :class:`RunConfigMismatchError` if ``rdir`` holds a run of a config other than ``cfg``.

    The folder's ``config.yaml`` (written when the run started) is compared with ``cfg`` by
    :func:`gencal.train.identity.run_digest`; a folder without one (empty, or not a run) passes.
    A finished run is reused and an unfinished one resumed only after this check.

    Args:
        rdir: a run folder.
        cfg: the config to run there (``DictConfig`` or nested mapping).

    Raises:
        RunConfigMismatchError: the saved config has another digest; the message lists up to
            five differing keys.
        GencalInputError: the saved ``config.yaml`` cannot be read.

    Example:
        >>> import tempfile
        >>> rdir = Path(tempfile.mkdtemp())
        >>> OmegaConf.save({"seed": 0, "loss": {"name": "focal", "gamma": 2}}, rdir / "config.yaml")
        >>> check_run_identity(rdir, {"seed": 0, "loss": {"name": "focal", "gamma": 2}})
        >>> try:
        ...     check_run_identity(rdir, {"seed": 0, "loss": {"name": "focal", "gamma": 3}})
        ... except RunConfigMismatchError as err:
        ...     print(str(err).split("(", 1)[1].split(")")[0])
        loss.gamma: 2 there, 3 here
    """
    from gencal.train.identity import config_diff, run_digest

    saved = Path(rdir) / CONFIG_FILE
    if not saved.is_file():
        return
    try:
        other = OmegaConf.load(saved)
    except Exception as exc:
        raise GencalInputError(
            f"{saved}: unreadable run config ({type(exc).__name__}: {exc}); move the folder "
            "away to train this run again"
        ) from exc
    if run_digest(other) == run_digest(cfg):
        return
    diff = config_diff(other, cfg)
    shown = ", ".join(f"{k}: {a!r} there, {b!r} here" for k, (a, b) in list(diff.items())[:5])
    more = f" (and {len(diff) - 5} more)" if len(diff) > 5 else ""
    raise RunConfigMismatchError(
        f"{Path(rdir)} holds a run of another config ({shown}{more}); it is neither reused "
        "nor resumed. Choose another run_name (or leave run_name unset: run folders are "
        "named by the config's digest)"
    )


@dataclass
class RunLogits:
    """The saved outputs of a finished run (numpy arrays) and its ``meta`` record.

    ``cal_logits`` and ``test_logits`` are float32 ``[N, K]`` logits, ``cal_labels`` and
    ``test_labels`` int64 ``[N]``, in the splits' original sample order. ``meta`` holds the
    run's ``config``, ``class_names``, ``groups`` (class -> group for long-tailed runs),
    ``train_class_counts``, ``code_version``, epochs and training time.

    Example:
        >>> import numpy as np
        >>> run = RunLogits(np.zeros((3, 2), np.float32), np.array([0, 1, 1]),
        ...                 np.zeros((4, 2), np.float32), np.array([1, 0, 0, 1]),
        ...                 meta={"class_names": ["cat", "dog"], "groups": {"0": "many"}})
        >>> run.class_names, run.groups, run.config
        (['cat', 'dog'], {0: 'many'}, {})
    """

    cal_logits: np.ndarray
    cal_labels: np.ndarray
    test_logits: np.ndarray
    test_labels: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None

    @property
    def config(self) -> dict[str, Any]:
        """The run's resolved config (``meta["config"]``; ``{}`` when absent)."""
        return self.meta.get("config", {})

    @property
    def class_names(self) -> list[str]:
        """Class names in label order (``[]`` when absent)."""
        return list(self.meta.get("class_names", []))

    @property
    def groups(self) -> dict[int, str] | None:
        """Class index -> group name (``many``, ``medium``, ``few``), or ``None``."""
        g = self.meta.get("groups")
        return None if g is None else {int(k): v for k, v in g.items()}


def is_finished(path: str | os.PathLike) -> bool:
    """Whether ``path`` (a run folder) holds ``logits.npz``.

    Example:
        >>> import tempfile
        >>> rdir = Path(tempfile.mkdtemp())
        >>> is_finished(rdir)
        False
        >>> (rdir / "logits.npz").touch(); is_finished(rdir)
        True
    """
    return (Path(path) / LOGITS_FILE).is_file()


def load_run(path: str | os.PathLike) -> RunLogits:
    """Read ``<run_dir>/logits.npz``; a missing or corrupt file raises a clear error.

    Args:
        path: a run folder, or the ``logits.npz`` file itself.

    Returns:
        The saved logits, labels and meta record (:class:`RunLogits`).

    Raises:
        RunNotFinishedError: there is no ``logits.npz``.
        GencalInputError: the file is corrupt (not an npz, arrays missing or of the wrong
            shape, meta not JSON).

    Example:
        A run folder written by hand (``gencal.train`` writes the same arrays):

        >>> import json, tempfile
        >>> rdir = Path(tempfile.mkdtemp())
        >>> z, y = np.eye(3, dtype=np.float32), np.array([0, 1, 2])
        >>> np.savez(rdir / "logits.npz", cal_logits=z, cal_labels=y, test_logits=z[:2],
        ...          test_labels=y[:2], meta=np.array(json.dumps({"class_names": ["a", "b", "c"]})))
        >>> run = load_run(rdir)
        >>> run.cal_logits.shape, run.test_labels.tolist(), run.class_names, run.run_dir == rdir
        ((3, 3), [0, 1], ['a', 'b', 'c'], True)
        >>> np.savez(rdir / "logits.npz", cal_logits=z)
        >>> try:
        ...     load_run(rdir)
        ... except GencalInputError as err:
        ...     print(str(err).split(": ", 1)[1])
        corrupt run file, missing arrays ['cal_labels', 'test_logits', 'test_labels', 'meta']
    """
    rdir = Path(path)
    f = rdir / LOGITS_FILE if rdir.is_dir() or not rdir.suffix else rdir
    if not f.is_file():
        raise RunNotFinishedError(
            f"{f}: no saved logits; the run has not finished (train it with "
            "gencal.train.train_run or `gencal train`)"
        )
    try:
        with np.load(f, allow_pickle=False) as z:
            missing = [k for k in _KEYS if k not in z.files]
            if missing:
                raise GencalInputError(f"{f}: corrupt run file, missing arrays {missing}")
            arrays = {k: z[k] for k in _KEYS}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        if isinstance(exc, GencalInputError):
            raise
        raise GencalInputError(
            f"{f}: corrupt run file ({type(exc).__name__}: {exc}); delete it to retrain the run"
        ) from exc
    try:
        meta = json.loads(str(arrays["meta"]))
    except json.JSONDecodeError as exc:
        raise GencalInputError(f"{f}: corrupt meta record: {exc}") from exc
    out = RunLogits(
        cal_logits=arrays["cal_logits"],
        cal_labels=arrays["cal_labels"],
        test_logits=arrays["test_logits"],
        test_labels=arrays["test_labels"],
        meta=meta,
        run_dir=f.parent,
    )
    for split in ("cal", "test"):
        lg, lb = getattr(out, f"{split}_logits"), getattr(out, f"{split}_labels")
        if lg.ndim != 2 or lb.ndim != 1 or len(lg) != len(lb):
            raise GencalInputError(
                f"{f}: corrupt run file, {split}_logits {lg.shape} / {split}_labels {lb.shape}"
            )
    return out


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
    ).stdout.strip()


def code_version() -> str:
    """``gencal.__version__`` plus the git commit (``+g<sha>``, ``.dirty``) when available.

    The commit is that of the git checkout holding the imported ``gencal`` package; an
    installed wheel gives the version alone.

    Example:
        >>> import gencal
        >>> code_version().startswith(gencal.__version__)
        True
    """
    import gencal

    version = gencal.__version__
    src = Path(gencal.__file__).resolve().parent
    try:
        sha = _git(src, "rev-parse", "--short=12", "HEAD")
        dirty = _git(src, "status", "--porcelain", "--untracked-files=no")
        if sha:
            version += f"+g{sha}" + (".dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return version


def _local_world_size(cfg: DictConfig) -> int:
    env = os.environ.get("LOCAL_WORLD_SIZE")
    if env:
        return max(int(env), 1)
    acc = str(cfg.trainer.get("accelerator", "auto"))
    dev = cfg.trainer.get("devices", 1)
    if acc == "cpu" and isinstance(dev, int) and dev > 1:
        return dev
    return 1


def resolve_threads(cfg: DictConfig) -> int:
    """``trainer.threads``, or (0 = auto) the CPU cores divided by the local processes.

    The local processes are ``LOCAL_WORLD_SIZE`` when set, else ``trainer.devices`` for CPU
    training with several devices, else 1.

    Example:
        >>> from omegaconf import OmegaConf
        >>> resolve_threads(OmegaConf.create({"trainer": {"threads": 3}}))
        3
        >>> resolve_threads(OmegaConf.create({"trainer": {"threads": 0}})) >= 1
        True
    """
    n = int(cfg.trainer.get("threads", 0) or 0)
    if n > 0:
        return n
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // _local_world_size(cfg))


def _precision(cfg: DictConfig) -> str:
    import torch

    p = str(cfg.trainer.get("precision", "auto"))
    if p != "auto":
        return p
    acc = str(cfg.trainer.get("accelerator", "auto"))
    if acc in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def _global_rank() -> int:
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if os.environ.get(var):
            return int(os.environ[var])
    return 0


def _warn_tiny_batches(cfg: DictConfig, world: int) -> None:
    name = str(cfg.loss.name).lower()
    bs = int(cfg.data.batch_size)
    if name == "gce" and bs < 16:
        warnings.warn(
            f"data.batch_size={bs} is tiny for GCE: each sample is normalised against the "
            "batch's predictions (a batch of 1 gives exactly zero loss); use >= 32 per process",
            stacklevel=3,
        )


def build_module(cfg: DictConfig, data: Any, dm: Any) -> Any:
    """The :class:`~gencal.train.module.ClassifierModule` of a run: its model, loss and optimiser.

    Args:
        cfg: the run's composed config.
        data: its :class:`~gencal.train.datamodule.RunData`.
        dm: its :class:`~gencal.train.datamodule.GencalDataModule` (for the augmentation).

    Returns:
        A freshly initialised module (seed the RNGs first for reproducible weights).

    Example:
        >>> from gencal.train import compose_config
        >>> from gencal.train.datamodule import GencalDataModule, build_run_data
        >>> cfg = compose_config(["experiment=demo", "model.hidden=[8]"])
        >>> data = build_run_data(cfg)
        >>> module = build_module(cfg, data, GencalDataModule(data, cfg))
        >>> module.num_classes, module.n_cal, module.n_test
        (10, 337, 451)
    """
    from gencal.train.module import ClassifierModule

    tcfg = cfg.trainer
    return ClassifierModule(
        build_model(cfg, data.num_classes, data.in_channels),
        build_loss(cfg),
        num_classes=data.num_classes,
        optimizer=OmegaConf.to_container(cfg.optimizer, resolve=True),
        scheduler=(
            None
            if cfg.get("scheduler") is None
            else OmegaConf.to_container(cfg.scheduler, resolve=True)
        ),
        epochs=int(tcfg.epochs),
        seed=int(cfg.seed),
        mean=data.mean,
        std=data.std,
        augment=dm.make_augment(),
        channels_last=bool(tcfg.get("channels_last", False)),
        check_finite=bool(tcfg.get("check_finite", True)),
        n_cal=len(data.cal_labels),
        n_test=len(data.test_labels),
    )


def train_run(cfg: Any, *, callbacks: list | None = None, quiet: bool = True) -> Path:
    """Train one run (or resume it, or return at once if it has finished); return its folder.

    ``cfg`` is a composed config (see :func:`gencal.train.compose_config`), a dict, or a list of
    Hydra overrides. ``callbacks`` are extra Lightning callbacks (tests use them).

    Args:
        cfg: the run's config.
        callbacks: extra Lightning callbacks.
        quiet: lower Lightning's log level to warnings.

    Returns:
        The run folder (:func:`gencal.train.run_dir`), holding ``logits.npz`` when it returns.

    Raises:
        ConfigError: the config cannot run.
        RunConfigMismatchError: the folder holds a run of another config.
        NonFiniteLossError: the loss or the parameters became NaN or infinite.

    Example:
        A tiny run (digits, an 8-unit MLP, one epoch):

        >>> import tempfile
        >>> from gencal.train import compose_config
        >>> cfg = compose_config(["experiment=demo", "model.hidden=[8]", "trainer.epochs=1",
        ...                       "trainer.threads=1", f"output_root={tempfile.mkdtemp()}"])
        >>> rdir = train_run(cfg)
        >>> run = load_run(rdir)
        >>> run.cal_logits.shape, run.test_logits.shape, run.meta["epochs_trained"]
        ((337, 10), (451, 10), 1)
        >>> sorted(p.name for p in rdir.iterdir())
        ['ckpt', 'config.yaml', 'logits.npz', 'logs']
        >>> train_run(cfg) == rdir  # finished: returned at once
        True
    """
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint

    from gencal.train.checkpoint import AtomicCheckpointIO, EpochCheckpoint, LogitsWriter
    from gencal.train.csv_log import resume_point
    from gencal.train.datamodule import GencalDataModule, build_run_data
    from gencal.train.identity import run_digest
    from gencal.train.schema import validate_config

    cfg = to_config(cfg)
    validate_config(cfg)
    rdir = run_dir(cfg)
    check_run_identity(rdir, cfg)
    if is_finished(rdir):
        return rdir
    tcfg = cfg.trainer
    if _global_rank() == 0:
        atomic_write_text(rdir / CONFIG_FILE, OmegaConf.to_yaml(cfg, resolve=True))
    torch.set_num_threads(resolve_threads(cfg))
    if quiet:
        for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
            logging.getLogger(name).setLevel(logging.WARNING)
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)

    data = build_run_data(cfg)
    dm = GencalDataModule(data, cfg)
    module = build_module(cfg, data, dm)
    meta = {
        "config": OmegaConf.to_container(cfg, resolve=True),
        "code_version": code_version(),
        "class_names": data.class_names,
        "groups": None if data.groups is None else {str(k): v for k, v in data.groups.items()},
        "n_train": len(data.train_labels),
        "n_cal": len(data.cal_labels),
        "n_test": len(data.test_labels),
        "run_name": rdir.name,
        "run_digest": run_digest(cfg),
        "train_class_counts": np.bincount(
            np.asarray(data.train_labels, dtype=np.int64), minlength=data.num_classes
        ).tolist(),
    }
    ckpt_dir = rdir / "ckpt"
    ckpt_cb = EpochCheckpoint(ckpt_dir, check_finite=bool(tcfg.get("check_finite", True)))
    val_every = (
        1 if getattr(module.loss_fn, "needs_update", False) else int(tcfg.get("val_every", 1))
    )
    extra_callbacks = [*build_callbacks(cfg, rdir), *(callbacks or [])]
    trainer = L.Trainer(
        max_epochs=int(tcfg.epochs),
        accelerator=str(tcfg.get("accelerator", "auto")),
        devices=tcfg.get("devices", 1),
        num_nodes=int(tcfg.get("num_nodes", 1)),
        strategy=str(tcfg.get("strategy", "auto")),
        precision=_precision(cfg),
        deterministic=bool(tcfg.get("deterministic", False)) or None,
        gradient_clip_val=tcfg.get("grad_clip"),
        gradient_clip_algorithm="norm",
        check_val_every_n_epoch=max(val_every, 1),
        num_sanity_val_steps=0,
        callbacks=[ckpt_cb, LogitsWriter(rdir / LOGITS_FILE, meta), *extra_callbacks],
        plugins=[AtomicCheckpointIO()],
        logger=build_loggers(cfg, rdir, resume_point(ckpt_cb.last_path)),
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in extra_callbacks),
        enable_progress_bar=bool(tcfg.get("progress_bar", False)),
        enable_model_summary=False,
        use_distributed_sampler=False,
        log_every_n_steps=1_000_000,  # epoch-level logging only
        default_root_dir=str(rdir),
    )
    _warn_tiny_batches(cfg, trainer.world_size)
    last = ckpt_cb.last_path
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*Experiment logs directory.*")
        warnings.filterwarnings(
            "ignore", message=".*Checkpoint directory .* exists and is not empty.*"
        )
        warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        warnings.filterwarnings("ignore", message=".*all_gather is deprecated.*")
        warnings.filterwarnings("ignore", message=".*overridden `transfer_batch_to_device`.*")
        warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
        trainer.fit(module, datamodule=dm, ckpt_path=str(last) if last.is_file() else None)
        trainer.test(module, datamodule=dm, verbose=False)
    return rdir
