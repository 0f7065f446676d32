"""Configs: every preset and group option composes; folders are named per the contract."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from gencal.calibration import list_calibrators
from gencal.data import list_datasets
from gencal.losses import list_losses
from gencal.models import list_models
from gencal.train import compose_config, config_groups, configs_dir, run_dir
from gencal.train.run import resolve_threads

GROUPS = config_groups()


def test_configs_dir_is_the_repository_folder():
    root = configs_dir()
    assert (root / "config.yaml").is_file()
    assert set(GROUPS) == {
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
    }


@pytest.mark.parametrize("experiment", GROUPS["experiment"])
def test_every_experiment_composes(experiment):
    cfg = compose_config([f"experiment={experiment}"])
    assert cfg.experiment == experiment
    assert cfg.grid and all(len(v) > 0 for v in cfg.grid.values())
    assert cfg.model.name in list_models()
    assert cfg.loss.name in list_losses()
    assert set(cfg.calibrators) <= set(list_calibrators())
    assert cfg.data.name in list_datasets()


def test_presets_follow_the_protocols():
    demo = compose_config(["experiment=demo"])
    assert demo.data.name == "digits" and demo.model.name in ("mlp", "cnn8")
    assert list(demo.grid.loss) == ["ce", "gce", "focal", "flsd53"]
    assert list(demo.grid.seed) == [0, 1, 2]
    assert list(demo.calibrators) == ["none", "ts", "ats"]
    assert compose_config(["experiment=demo", "loss=focal"]).loss.gamma == 3.0
    p = compose_config(["experiment=paper_cifar10"])
    t, o, s = p.trainer, p.optimizer, p.scheduler
    assert o._target_ == "torch.optim.SGD"
    assert (t.epochs, o.lr, o.momentum, o.weight_decay, o.nesterov) == (350, 0.1, 0.9, 5e-4, False)
    assert s._target_ == "gencal.train.schedules.multistep"
    assert list(s.milestones) == [150, 250] and s.gamma == 0.1
    assert t.grad_clip == 2.0 and p.data.batch_size == 128 and p.data.cal_fraction == 0.1
    assert set(p.grid.model) == {"resnet50", "resnet110_focal", "wrn26_10", "densenet121"}
    lt = compose_config(["experiment=paper_cifar10_lt"])
    assert lt.data.long_tail.imbalance_factor == 100 and lt.model.name == "resnet32"


def test_every_group_option_composes():
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(configs_dir()), version_base="1.3"):
        for group in GROUPS:
            if group == "experiment":
                continue
            for option in GROUPS[group]:
                cfg = compose(config_name="config", overrides=[f"{group}={option}"])
                if group in ("data", "loss") or (group == "model" and option != "custom"):
                    assert cfg[group].name, (group, option)
                if group in ("optimizer", "scheduler"):
                    assert cfg[group]._target_, (group, option)
                if group == "calibrator":
                    assert set(cfg.calibrators) <= set(list_calibrators())


def test_every_config_key_is_commented():
    """Readable configs: each line that sets a scalar value says what it means."""
    for path in Path(configs_dir()).rglob("*.yaml"):
        for line in path.read_text().splitlines():
            s = line.strip()
            if not s or s.startswith(("#", "-")) or s.endswith(":") or s.startswith("defaults"):
                continue
            if re.match(r"^(experiment|grid|loss|seed|model|data|trainer|calibrators):", s):
                continue  # preset bodies: the keys are documented in the group files
            if path.parts[-2] == "experiment" and re.match(r"^\w+: \[", s):
                continue  # grid lists
            assert "#" in line, f"{path.name}: no comment on {line!r}"


def test_run_dir_naming(tmp_path):
    cfg = compose_config(["experiment=demo", f"output_root={tmp_path}", "loss=gce", "seed=2"])
    assert run_dir(cfg).parent == tmp_path / "demo"
    assert re.fullmatch(r"digits__mlp__gce__s2-[0-9a-f]{8}", run_dir(cfg).name)
    lt = compose_config(["experiment=cpu_fashion_mnist_lt"])
    assert run_dir(lt).name.startswith("fashion_mnist-lt100__cnn28__ce__s0-")
    med = compose_config(["experiment=paper_medmnist"])
    assert "/" not in run_dir(med).name
    named = compose_config(["experiment=demo", "run_name=my run"])
    assert run_dir(named).name == "my-run"


def _lrs(scheduler_cfg, epochs, lr=0.1, optimizer_cfg=None):
    """The learning rate of each epoch, from the configs as the trainer builds them."""
    from hydra.utils import instantiate

    p = torch.nn.Parameter(torch.zeros(1))
    opt = instantiate(optimizer_cfg or {"_target_": "torch.optim.SGD", "lr": lr}, params=[p])
    cfg = dict(scheduler_cfg)
    cfg.pop("interval", None)
    sched = instantiate(cfg, optimizer=opt)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_lr_schedules_match_their_formulas():
    ms = {"_target_": "gencal.train.schedules.multistep", "milestones": [150, 250]}
    lrs = _lrs(ms, 350)
    assert [lrs[e] for e in (0, 149, 150, 249, 250, 349)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    )
    cos = {"_target_": "gencal.train.schedules.cosine", "epochs": 10, "min_lr": 0.001}
    lrs = _lrs(cos, 11)
    for e in (0, 3, 7, 10):
        assert lrs[e] == pytest.approx(
            0.001 + (0.1 - 0.001) * 0.5 * (1 + math.cos(math.pi * e / 10))
        )
    warm = {"_target_": "gencal.train.schedules.constant", "warmup_epochs": 4}
    assert _lrs(warm, 6) == pytest.approx([0.01, 0.0325, 0.055, 0.0775, 0.1, 0.1])
    # any torch scheduler, as configured in configs/scheduler/step.yaml
    step = {"_target_": "torch.optim.lr_scheduler.StepLR", "step_size": 2, "gamma": 0.5}
    assert _lrs(step, 5) == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


def test_scheduler_and_optimizer_group_files_build():
    for name in ("multistep", "cosine", "constant", "step"):
        cfg = compose_config(["experiment=demo", f"scheduler={name}"])
        lrs = _lrs(OmegaConf.to_container(cfg.scheduler, resolve=True), 3, lr=0.05)
        assert lrs[0] > 0
    adamw = compose_config(["experiment=demo", "optimizer=adamw"]).optimizer
    assert adamw._target_ == "torch.optim.AdamW"
    demo = compose_config(["experiment=demo"])
    # the demo keeps its schedule: cosine over its 20 epochs from lr 0.05
    assert demo.scheduler.epochs == demo.trainer.epochs == 20 and demo.optimizer.lr == 0.05


def test_threads_auto_splits_cores(monkeypatch):
    cfg = compose_config(["trainer.threads=3"])
    assert resolve_threads(cfg) == 3
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert resolve_threads(compose_config(["trainer.threads=0"])) == 8
    two = compose_config(["trainer.threads=0", "trainer.devices=2", "trainer.accelerator=cpu"])
    assert resolve_threads(two) == 4


def test_every_loss_hyperparameter_is_in_its_config():
    """A loss default that is not written in the config would change results unseen by the
    run's identity: every hyper-parameter (not the switches that leave the value unchanged)
    is spelled out in configs/loss/<name>.yaml."""
    import inspect

    import yaml

    from gencal.losses import get_loss

    not_results = {"self", "validate_args", "ignore_index", "fused", "implementation"}
    for path in sorted((configs_dir() / "loss").glob("*.yaml")):
        cfg = yaml.safe_load(path.read_text())
        name = cfg.pop("name")
        params = inspect.signature(type(get_loss(name)).__init__).parameters
        missing = [p for p in params if p not in cfg and p not in not_results]
        assert not missing, f"{path.name}: hyper-parameters missing from the config: {missing}"
        get_loss(name, **cfg)
