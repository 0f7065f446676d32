"""Resume, NaN stop and atomic checkpoints."""

from __future__ import annotations

import csv
import io
import os

import lightning as L
import numpy as np
import pytest
import torch

from gencal.train import load_run, run_dir, train_run
from gencal.train import run as run_mod
from gencal.train.checkpoint import AtomicCheckpointIO
from gencal.train.module import NonFiniteLossError
from tests.train.conftest import tiny_cfg


class _Interrupt(Exception):
    pass


class _StopAfterEpoch(L.Callback):
    """Simulate a killed job: raise in the first batch after epoch ``stop`` (0-based) ended."""

    def __init__(self, stop: int) -> None:
        self.stop = stop

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch == self.stop + 1:
            raise _Interrupt


# AdaFocal (stateful loss: per-bin gammas updated from the cal split each epoch), mixup and
# random crops (augmentation generator), momentum and a multi-step schedule: all must resume.
RESUME_ARGS = (
    "loss=adafocal",
    "data.augment.mixup_alpha=0.4",
    "data.augment.crop_padding=1",
    "trainer.deterministic=true",
    "scheduler=multistep",
    "scheduler.milestones=[2]",
)


def test_resume_matches_uninterrupted_run(tmp_path):
    straight = train_run(tiny_cfg(tmp_path / "a", *RESUME_ARGS, epochs=4))

    cfg_b = tiny_cfg(tmp_path / "b", *RESUME_ARGS, epochs=4)
    with pytest.raises(_Interrupt):
        train_run(cfg_b, callbacks=[_StopAfterEpoch(1)])  # killed after its 2nd epoch
    ckpt = torch.load(
        tmp_path / "b" / "demo" / straight.name / "ckpt" / "last.ckpt", weights_only=False
    )
    assert ckpt["epoch"] == 1  # the checkpoint of the 2nd epoch
    gammas = ckpt["state_dict"]["loss_fn.gammas"]
    assert not torch.equal(gammas, torch.full_like(gammas, gammas.flatten()[0]))  # updated state
    resumed = train_run(cfg_b)

    a, b = load_run(straight), load_run(resumed)
    np.testing.assert_array_equal(a.test_logits, b.test_logits)
    np.testing.assert_array_equal(a.cal_logits, b.cal_logits)
    assert b.meta["epochs_trained"] == 4
    # the per-epoch log keeps the epochs before the interruption, each epoch once
    log_a = (straight / "logs" / "metrics.csv").read_bytes()
    log_b = (resumed / "logs" / "metrics.csv").read_bytes()
    rows = list(csv.DictReader(io.StringIO(log_b.decode())))
    assert sorted({int(r["epoch"]) for r in rows if r["epoch"]}) == [0, 1, 2, 3]
    assert log_b == log_a


class _NaNAfter(torch.nn.Module):
    """Wrap a loss: return NaN from the ``n``-th call on."""

    def __init__(self, inner, n):
        super().__init__()
        self.inner, self.n, self.calls = inner, n, 0
        self.needs_update = False

    @property
    def parts(self):
        return self.inner.parts

    def forward(self, logits, target):
        self.calls += 1
        out = self.inner(logits, target)
        return out * float("nan") if self.calls >= self.n else out


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    real = run_mod.build_loss
    steps_per_epoch = 19
    monkeypatch.setattr(
        run_mod, "build_loss", lambda cfg: _NaNAfter(real(cfg), 2 * steps_per_epoch + 5)
    )
    cfg = tiny_cfg(tmp_path, epochs=4)
    with pytest.raises(NonFiniteLossError, match=r"non-finite training loss \(nan\) at epoch 2"):
        train_run(cfg)
    rdir = run_dir(cfg)
    assert not (rdir / "logits.npz").exists()
    ckpt = torch.load(rdir / "ckpt" / "last.ckpt", weights_only=False)
    assert ckpt["epoch"] == 1  # end of the 2nd epoch: the last good one
    assert all(
        torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point()
    )


def test_checkpoint_io_is_atomic(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"epoch": 1, "w": torch.ones(3)}, path)
    before = path.read_bytes()

    real_save = torch.save

    def crashing_save(obj, fh, *a, **k):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"epoch": 2, "w": torch.zeros(3)}, path)
    monkeypatch.setattr(torch, "save", real_save)
    assert path.read_bytes() == before  # the old checkpoint is intact
    assert os.listdir(tmp_path) == ["last.ckpt"]  # no temporary file left behind
    assert torch.load(path, weights_only=False)["epoch"] == 1
