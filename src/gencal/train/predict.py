"""Logits of a saved checkpoint of a run: ``predict_checkpoint(run_dir, "best")``.

A run keeps ``ckpt/last.ckpt`` (the last finished epoch) and, with the default callbacks,
``ckpt/best.ckpt`` (the epoch of lowest calibration-split NLL). Its ``logits.npz`` holds the
final model's logits; :func:`predict_checkpoint` computes the same arrays for any checkpoint,
on the same calibration and test splits, and writes them beside as ``<name>_logits.npz`` in the
same format (``meta`` gains ``checkpoint`` and ``checkpoint_epoch``), and a small summary
``<name>_summary.json`` (the checkpoint's epoch and its calibration and test accuracy and NLL).
The study reports use them for the evidence of overconfidence: the test NLL at the best
calibration epoch against the final one. Checkpoints are never committed with a study, so this
needs the run's own folder; a study commits the summary (a few hundred bytes), not the logits.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from gencal._checks import GencalInputError

__all__ = ["checkpoint_name", "nll_and_accuracy", "predict_checkpoint"]


def checkpoint_name(checkpoint: str | os.PathLike) -> str:
    """The name a checkpoint's outputs carry: ``best``, ``last``, or a ``.ckpt`` file's stem.

    Example:
        >>> checkpoint_name("best"), checkpoint_name("runs/x/ckpt/epoch7.ckpt")
        ('best', 'epoch7')
    """
    path = Path(checkpoint)
    return path.stem if path.suffix == ".ckpt" else str(checkpoint)


def nll_and_accuracy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mean NLL of the softmax (exact log-softmax, float64) and top-1 accuracy of logits.

    Args:
        logits: ``[N, K]`` logits (not probabilities).
        labels: ``[N]`` class indices.

    Returns:
        ``(nll, accuracy)``.

    Example:
        >>> z = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 1.0]])
        >>> nll, acc = nll_and_accuracy(z, np.array([0, 1, 1, 1]))
        >>> round(nll, 4), acc
        (0.6735, 0.75)
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    z = z - z.max(axis=1, keepdims=True)
    nll = np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]
    return float(nll.mean()), float((z.argmax(axis=1) == y).mean())


def _checkpoint_path(rdir: Path, checkpoint: str | os.PathLike) -> Path:
    path = Path(checkpoint)
    if path.suffix != ".ckpt":
        path = rdir / "ckpt" / f"{checkpoint}.ckpt"
    if not path.is_file():
        raise GencalInputError(
            f"{path}: no such checkpoint (the run keeps ckpt/best.ckpt, last.ckpt)"
        )
    return path


def predict_checkpoint(
    run_dir: str | os.PathLike,
    checkpoint: str | os.PathLike = "best",
    *,
    out: str | os.PathLike | None = None,
    threads: int | None = None,
) -> Path:
    """Write the calibration- and test-split logits of one checkpoint of a run.

    Args:
        run_dir: a run folder of :func:`gencal.train.train_run` (its ``config.yaml`` rebuilds
            the model and the splits).
        checkpoint: ``"best"``, ``"last"`` (``ckpt/<name>.ckpt``) or a path to a ``.ckpt``.
        out: the file to write (default ``<run_dir>/<checkpoint name>_logits.npz``).
        threads: CPU threads (default: the run's ``trainer.threads`` rule).

    Returns:
        The written logits file; read it with ``gencal.train.load_run(path)``. The summary
        ``<name>_summary.json`` is written beside it.

    Raises:
        GencalInputError: no ``config.yaml`` or no such checkpoint.

    Example:
        >>> import tempfile
        >>> from gencal.train import compose_config, load_run, train_run
        >>> cfg = compose_config(["experiment=demo", "model.hidden=[8]", "trainer.epochs=2",
        ...                       "trainer.threads=1", f"output_root={tempfile.mkdtemp()}"])
        >>> rdir = train_run(cfg)
        >>> run = load_run(predict_checkpoint(rdir, "last"))
        >>> final = load_run(rdir)
        >>> bool(np.allclose(run.test_logits, final.test_logits, atol=1e-5))
        True
        >>> run.meta["checkpoint"], run.meta["checkpoint_epoch"]
        ('last', 1)
    """
    import lightning as L
    import torch
    from omegaconf import OmegaConf

    from gencal.io import atomic_save_npz, atomic_write_text
    from gencal.train.datamodule import GencalDataModule, build_run_data
    from gencal.train.run import CONFIG_FILE, build_module, resolve_threads

    rdir = Path(run_dir)
    if not (rdir / CONFIG_FILE).is_file():
        raise GencalInputError(f"{rdir}: not a run folder (no {CONFIG_FILE})")
    path = _checkpoint_path(rdir, checkpoint)
    cfg = OmegaConf.load(rdir / CONFIG_FILE)
    torch.set_num_threads(threads or resolve_threads(cfg))
    for logger in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(logger).setLevel(logging.WARNING)
    data = build_run_data(cfg)
    dm = GencalDataModule(data, cfg)
    module = build_module(cfg, data, dm)
    state = torch.load(path, map_location="cpu", weights_only=False)
    module.load_state_dict(state["state_dict"])
    trainer = L.Trainer(
        accelerator=str(cfg.trainer.get("accelerator", "auto")),
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*overridden `transfer_batch_to_device`.*")
        trainer.test(module, datamodule=dm, verbose=False)
    name = checkpoint_name(checkpoint)
    target = Path(out) if out is not None else rdir / f"{name}_logits.npz"
    epoch = int(state.get("epoch", -1))
    meta = {
        "config": OmegaConf.to_container(cfg, resolve=True),
        "checkpoint": name,
        "checkpoint_epoch": epoch,
        "run_name": rdir.name,
    }
    arrays: dict[str, np.ndarray] = {}
    summary: dict[str, object] = {"checkpoint": name, "checkpoint_epoch": epoch}
    for split in ("cal", "test"):
        logits, labels = module.collected[split]
        arrays[f"{split}_logits"] = logits.numpy().astype(np.float32)
        arrays[f"{split}_labels"] = labels.numpy().astype(np.int64)
        summary[f"{split}_nll"], summary[f"{split}_acc"] = nll_and_accuracy(
            logits.numpy(), labels.numpy()
        )
    atomic_save_npz(target, **arrays, meta=np.array(json.dumps(meta, sort_keys=True, default=str)))
    atomic_write_text(
        target.with_name(f"{name}_summary.json"), json.dumps(summary, indent=1, sort_keys=True)
    )
    return target
