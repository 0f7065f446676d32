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
    """``torch.save`` to a temporary file beside ``path``, fsync, then ``os.replace``.

    Lightning uses it for every checkpoint of a run (``plugins=[AtomicCheckpointIO()]``);
    loading is Lightning's ``TorchCheckpointIO.load_checkpoint``.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> AtomicCheckpointIO().save_checkpoint({"epoch": 3}, folder / "last.ckpt")
        >>> torch.load(folder / "last.ckpt"), [p.name for p in folder.iterdir()]
        ({'epoch': 3}, ['last.ckpt'])
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        with atomic_writer(path) as fh:
            torch.save(checkpoint, fh)


class EpochCheckpoint(L.Callback):
    """Save ``<dirpath>/last.ckpt`` at the end of every training epoch.

    It also adds the epoch's wall time to ``pl_module.train_seconds``. With ``check_finite``,
    non-finite floating-point parameters or buffers raise :class:`NonFiniteLossError` instead
    of overwriting the last good checkpoint.

    Args:
        dirpath: the checkpoint folder (``<run_dir>/ckpt``).
        check_finite: refuse to save non-finite parameters.

    Example:
        >>> from types import SimpleNamespace
        >>> cb = EpochCheckpoint("runs/r/ckpt")
        >>> cb.last_path.as_posix()
        'runs/r/ckpt/last.ckpt'
        >>> module = ClassifierModule(torch.nn.Linear(2, 2), torch.nn.CrossEntropyLoss(),
        ...                           num_classes=2, optimizer={}, scheduler=None, epochs=1)
        >>> with torch.no_grad():
        ...     module.model.bias[0] = float("nan")
        >>> try:
        ...     cb.on_train_epoch_end(SimpleNamespace(current_epoch=4), module)
        ... except NonFiniteLossError as err:
        ...     print(str(err).split(";")[0])
        non-finite parameters after epoch 4 (model.bias)
    """

    def __init__(self, dirpath: str | os.PathLike, check_finite: bool = True) -> None:
        self.dirpath = Path(dirpath)
        self.check_finite = check_finite

    @property
    def last_path(self) -> Path:
        """``<dirpath>/last.ckpt``."""
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
    """Write ``logits.npz`` from global rank 0 after the test stage.

    The arrays are ``pl_module.collected`` (see :class:`ClassifierModule`): ``cal_logits``,
    ``test_logits`` as float32 ``[N, K]`` and ``cal_labels``, ``test_labels`` as int64 ``[N]``.
    ``meta`` is ``meta`` plus ``epochs_trained``, ``training_seconds`` and ``cal_metrics``
    (:func:`cal_metrics` of the calibration split), stored as a JSON string.

    Args:
        path: the file to write (``<run_dir>/logits.npz``).
        meta: the run's record (config, class names, ...).

    Example:
        >>> import tempfile
        >>> from types import SimpleNamespace
        >>> from gencal.train import load_run
        >>> module = ClassifierModule(torch.nn.Linear(2, 2), torch.nn.CrossEntropyLoss(),
        ...                           num_classes=2, optimizer={}, scheduler=None, epochs=1)
        >>> logits, labels = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])
        >>> module.collected = {"cal": (logits, labels), "test": (logits, labels)}
        >>> path = Path(tempfile.mkdtemp()) / "logits.npz"
        >>> writer = LogitsWriter(path, {"class_names": ["a", "b"]})
        >>> writer.on_test_end(SimpleNamespace(is_global_zero=True, current_epoch=5), module)
        >>> run = load_run(path.parent)
        >>> run.test_logits.dtype, run.cal_labels.tolist(), run.class_names
        (dtype('float32'), [0, 0], ['a', 'b'])
        >>> run.meta["epochs_trained"], run.meta["cal_metrics"]["cal/acc"]
        (5, 0.5)
    """

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
