"""Optimizer, scheduler, logger, callbacks and the model built from their configs."""

from __future__ import annotations

import csv

import pytest
import torch

from gencal.train import compose_config, load_run, train_run
from gencal.train.schema import ConfigError
from tests.train.conftest import tiny_cfg


def _custom(tmp_path, *extra):
    """The demo with a model of the user's own (``model=custom``)."""
    return compose_config(
        [
            "experiment=demo",
            f"output_root={tmp_path}",
            "trainer.epochs=3",
            "trainer.threads=1",
            "model=custom",
            *extra,
        ]
    )


def _metrics(rdir):
    with open(rdir / "logs" / "metrics.csv") as fh:
        return list(csv.DictReader(fh))


def test_tensorboard_logger_writes_event_files(tmp_path):
    rdir = train_run(tiny_cfg(tmp_path, "logger=tensorboard", epochs=1))
    events = list((rdir / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    assert (rdir / "logs" / "metrics.csv").is_file()  # the CSV log stays


def test_best_checkpoint_keeps_the_epoch_with_the_lowest_cal_nll(tmp_path):
    rdir = train_run(tiny_cfg(tmp_path, "optimizer.lr=0.5", epochs=5))
    rows = [r for r in _metrics(rdir) if r.get("cal/nll")]
    nll = {int(r["epoch"]): float(r["cal/nll"]) for r in rows}
    best_epoch = min(nll, key=nll.get)
    best = torch.load(rdir / "ckpt" / "best.ckpt", weights_only=False)
    assert best["epoch"] == best_epoch
    # observing callbacks do not change the run: the same config without them is the same run
    assert train_run(tiny_cfg(tmp_path, "optimizer.lr=0.5", "callbacks=none", epochs=5)) == rdir


def test_lr_monitor_logs_the_schedule(tmp_path):
    rdir = train_run(
        tiny_cfg(tmp_path, "scheduler=multistep", "scheduler.milestones=[1]", epochs=2)
    )
    lrs = [float(r["lr-SGD"]) for r in _metrics(rdir) if r.get("lr-SGD")]
    assert lrs == pytest.approx([0.05, 0.005])


def test_early_stopping_is_part_of_the_identity(tmp_path):
    a = train_run(tiny_cfg(tmp_path, epochs=1))
    b = train_run(tiny_cfg(tmp_path, "callbacks=early_stopping", epochs=1))
    assert a != b


def test_adamw_and_a_users_own_module_train(tmp_path):
    rdir = train_run(
        _custom(
            tmp_path,
            "optimizer=adamw",
            "optimizer.lr=0.01",
            "model._target_=tests.train.user_model.TinyNet",
            "+model.width=24",
        )
    )
    assert rdir.name.startswith("digits__TinyNet__ce__s0-")
    run = load_run(rdir)
    assert run.test_logits.shape[1] == 10
    assert (run.test_logits.argmax(1) == run.test_labels).mean() > 0.5  # it learned
    state = torch.load(rdir / "ckpt" / "last.ckpt", weights_only=False)
    assert state["optimizer_states"][0]["param_groups"][0]["weight_decay"] == 0.05  # AdamW's
    assert state["state_dict"]["model.net.1.weight"].shape == (24, 64)


def test_custom_model_without_target_or_with_bad_kwargs_fails_at_compose(tmp_path):
    with pytest.raises(ConfigError, match=r"model\._target_"):
        _custom(tmp_path)
    with pytest.raises(ConfigError, match=r"model\.depth: not a parameter of .*TinyNet"):
        _custom(tmp_path, "model._target_=tests.train.user_model.TinyNet", "+model.depth=3")


@pytest.mark.parametrize(
    ("logger", "module", "folder", "pattern"),
    [
        ("wandb", "wandb", "wandb", "offline-run-*"),
        ("mlflow", "mlflow", "mlruns", "*/*/metrics/cal/nll"),
    ],
)
def test_wandb_offline_and_mlflow_file_store_write_into_the_run(
    tmp_path, monkeypatch, logger, module, folder, pattern
):
    pytest.importorskip(module)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    rdir = train_run(tiny_cfg(tmp_path, f"logger={logger}", epochs=1))
    assert list((rdir / folder).glob(pattern)), sorted(p.name for p in (rdir / folder).iterdir())
