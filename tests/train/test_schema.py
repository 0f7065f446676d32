"""Config values are checked when the config is composed, before anything trains."""

from __future__ import annotations

import pytest

from gencal import GencalInputError
from gencal.train import compose_config, expand_grid, train_run
from gencal.train.schema import ConfigError, validate_config


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("trainer.epochs=abc", r"trainer\.epochs='abc': expected an integer >= 1"),
        ("trainer.epochs=0", r"trainer\.epochs=0: expected an integer >= 1"),
        ("data.cal_fraction=1.5", r"data\.cal_fraction=1\.5: expected a number > 0 and < 1"),
        ("data.batch_size=-3", r"data\.batch_size=-3"),
        ("trainer.precision=fp8", r"trainer\.precision='fp8': expected one of auto, 32-true"),
        ("optimizer.lr=0", r"optimizer\.lr=0"),
        ("data.name=nope", r"data\.name='nope': unknown; allowed: .*cifar10"),
        ("model.name=nope", r"model\.name='nope': unknown; allowed: .*resnet20"),
        ("loss=focal loss.gamma=-1", r"loss \(focal\): gamma: must be >= 0"),
        ("+loss.foo=1", r"loss \(ce\).*unknown hyperparameter.*'foo'"),
        ("+optimizer.betas=[0.9,0.99]", r"optimizer\.betas: not a parameter of torch\.optim\.SGD"),
        ("optimizer._target_=torch.optim.Nope", r"optimizer\._target_='torch\.optim\.Nope'"),
    ],
)
def test_bad_values_fail_at_compose_naming_the_key(override, needle):
    with pytest.raises(ConfigError, match=needle):
        compose_config(["experiment=demo", *override.split()])


def test_unknown_key_and_group_option_fail_at_compose():
    with pytest.raises(GencalInputError, match=r"trainer\.epoch"):
        compose_config(["experiment=demo", "trainer.epoch=3"])
    with pytest.raises(GencalInputError, match=r"nope"):
        compose_config(["experiment=demo", "loss=nope"])


def test_all_problems_reported_at_once():
    with pytest.raises(ConfigError) as err:
        compose_config(["experiment=demo", "trainer.epochs=abc", "data.batch_size=0"])
    assert len(err.value.problems) == 2


def test_every_preset_is_valid():
    from gencal.train import config_groups

    for name in config_groups()["experiment"]:
        cfg = compose_config([f"experiment={name}"])
        for point in expand_grid(cfg)[:3]:
            validate_config(point)


def test_grid_values_and_plain_dicts_are_checked_too(tmp_path):
    cfg = compose_config(["experiment=demo", f"output_root={tmp_path}"])
    cfg.grid = {"trainer.epochs": [1, "x"]}
    with pytest.raises(ConfigError, match=r"trainer\.epochs='x'"):
        expand_grid(cfg)
    from omegaconf import OmegaConf

    tree = OmegaConf.to_container(compose_config(["experiment=demo"]), resolve=True)
    tree["trainer"]["epochs"] = -1
    with pytest.raises(ConfigError, match=r"trainer\.epochs=-1"):
        train_run(tree)
    assert not any(tmp_path.iterdir())


def test_plus_experiment_is_experiment():
    a = compose_config(["+experiment=demo"])
    b = compose_config(["experiment=demo"])
    assert a.experiment == b.experiment == "demo" and a.trainer.epochs == b.trainer.epochs
