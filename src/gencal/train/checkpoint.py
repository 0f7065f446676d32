"""Checkpoints and saved logits.

- :class:`AtomicCheckpointIO`: Lightning checkpoint IO that writes to a temporary file in the
  destination folder, fsyncs it and renames it over the destination (``os.replace``), so a
  crash never leaves a truncated ``last.ckpt``.
- :class:`EpochCheckpoint`: saves ``<run_dir>/ckpt/last.ckpt`` at the end of every training
  epoch (after the calibration-split validation and the loss's ``update``), refusing to
  overwrite the last good checkpoint with non-finite parameters.
- :class:`LogitsWriter`: at the end of the test stage, global rank 0 writes ``logits.npz``
  (compressed, atomic) with the cal/test logits and labels in the original sample order and a
  ``meta`` JSON string.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from gencal.io import atomic_save_npz, atomic_writer
from gencal.train.module import ClassifierModule, NonFiniteLossError, cal_metrics

__all__ = ["AtomicCheckpointIO", "EpochCheckpoint", "LogitsWriter"]


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to a temporary file beside ``path``, fsync, then ``os.replace``."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        with atomic_writer(path) as fh:
            torch.save(checkpoint, fh)


class EpochCheckpoint(L.Callback):
    """Save ``<dirpath>/last.ckpt`` at the end of every training epoch."""

    def __init__(self, dirpath: str | os.PathLike, check_finite: bool = True) -> None:
        self.dirpath = Path(dirpath)
        self.check_finite = check_finite

    @property
    def last_path(self) -> Path:
        return self.dirpath / "last.ckpt"

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if hasattr(self, "_t0"):
            pl_module.train_seconds += time.perf_counter() - self._t0
        if self.check_finite:
            bad = [
                n
                for n, t in list(pl_module.named_parameters()) + list(pl_module.named_buffers())
                if t.is_floating_point() and not bool(torch.isfinite(t).all())
            ]
            if bad:
                raise NonFiniteLossError(
                    f"non-finite parameters after epoch {trainer.current_epoch} "
                    f"({', '.join(bad[:5])}{', ...' if len(bad) > 5 else ''}); "
                    f"the last good checkpoint {self.last_path} was not overwritten"
                )
        trainer.save_checkpoint(self.last_path)


class LogitsWriter(L.Callback):
    """Write ``logits.npz`` from global rank 0 after the test stage."""

    def __init__(self, path: str | os.PathLike, meta: dict[str, Any]) -> None:
        self.path = Path(path)
        self.meta = meta

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        assert isinstance(pl_module, ClassifierModule)
        if not trainer.is_global_zero:
            return
        cal_logits, cal_labels = pl_module.collected["cal"]
        test_logits, test_labels = pl_module.collected["test"]
        meta = dict(self.meta)
        meta["epochs_trained"] = int(trainer.current_epoch)
        meta["training_seconds"] = round(float(pl_module.train_seconds), 3)
        meta["cal_metrics"] = cal_metrics(cal_logits, cal_labels)
        atomic_save_npz(
            self.path,
            cal_logits=cal_logits.numpy().astype(np.float32),
            cal_labels=cal_labels.numpy().astype(np.int64),
            test_logits=test_logits.numpy().astype(np.float32),
            test_labels=test_labels.numpy().astype(np.int64),
            meta=np.array(json.dumps(meta, sort_keys=True, default=str)),
        )
