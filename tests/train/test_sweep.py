"""Sweeps: grid expansion, no work on a second run, SLURM submission parameters."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

from gencal import GencalInputError
from gencal.train import compose_config, expand_grid, is_finished, run_dir, run_sweep
from gencal.train import datamodule as dm_mod
from gencal.train.sweep import slurm_parameters, submit_slurm, sweep_worker
from tests.train.conftest import tiny_cfg


def test_expand_grid_groups_values_and_names(tmp_path):
    cfg = compose_config(["experiment=paper_cifar10", f"output_root={tmp_path}"])
    cfgs = expand_grid(cfg)
    assert len(cfgs) == 4 * 9 * 10
    first = cfgs[0]
    assert (first.model.name, first.loss.name, first.seed) == ("resnet50", "ce", 0)
    focal = next(c for c in cfgs if c.loss.name == "focal")
    assert focal.loss.gamma == 3.0  # the group option's own keys
    assert focal.loss.reduction == "sum"  # the experiment's setting on top of the group
    assert len({str(c.seed) + c.loss.name + c.model.name for c in cfgs}) == len(cfgs)

    # a value key that is not part of the readable name still gives each point its own folder
    cfg = tiny_cfg(tmp_path)
    cfg.grid = {"seed": [0], "optimizer.lr": [0.1, 0.01]}
    names = [run_dir(c).name for c in expand_grid(cfg)]
    assert len(set(names)) == 2
    assert all(re.fullmatch(r"digits__mlp__ce__s0-[0-9a-f]{8}", n) for n in names)
    assert [c.optimizer.lr for c in expand_grid(cfg)] == [0.1, 0.01]


def test_expand_grid_rejects_bad_grid(tmp_path):
    with pytest.raises(GencalInputError, match=r"grid\.seed"):
        expand_grid(tiny_cfg(tmp_path, "grid.seed=3"))


def test_sweep_twice_does_no_work_the_second_time(tmp_path, monkeypatch):
    trainings = []
    real = dm_mod.build_run_data

    def counting(cfg):
        trainings.append(cfg.loss.name)
        return real(cfg)

    monkeypatch.setattr(dm_mod, "build_run_data", counting)
    cfg = tiny_cfg(tmp_path, "grid={loss: [ce, gce], seed: [0, 1]}", epochs=1)
    dirs = run_sweep(cfg, workers=1, progress=False)
    assert len(trainings) == 4 and all(is_finished(d) for d in dirs)
    assert sorted(d.name.rsplit("-", 1)[0] for d in dirs) == sorted(
        f"digits__mlp__{loss}__s{s}" for loss in ("ce", "gce") for s in (0, 1)
    )
    stamps = [(d / "logits.npz").stat().st_mtime_ns for d in dirs]
    assert run_sweep(cfg, workers=1, progress=False) == dirs
    assert len(trainings) == 4  # no training the second time
    assert [(d / "logits.npz").stat().st_mtime_ns for d in dirs] == stamps


def test_killed_sweep_resumes_unfinished_runs_only(tmp_path, monkeypatch):
    cfg = tiny_cfg(tmp_path, "grid={loss: [ce], seed: [0, 1]}", epochs=1)
    run_sweep(cfg, workers=1, progress=False)
    dirs = run_sweep(cfg, workers=1, progress=False, dry_run=True)
    (dirs[1] / "logits.npz").unlink()  # as if killed before writing its logits
    trainings = []
    real = dm_mod.build_run_data
    monkeypatch.setattr(dm_mod, "build_run_data", lambda c: trainings.append(c.seed) or real(c))
    run_sweep(cfg, workers=1, progress=False)
    assert trainings == [1] and is_finished(dirs[1])


def test_slurm_submission_parameters(tmp_path, monkeypatch):
    cfg = compose_config(
        [
            "experiment=paper_cifar10",
            f"output_root={tmp_path}",
            "trainer.devices=4",
            "trainer.num_nodes=2",
            "slurm.partition=gpu",
            "+slurm.additional_parameters.account=abc",
        ]
    )
    params = slurm_parameters(cfg)
    assert params["gpus_per_node"] == 4 and params["tasks_per_node"] == 4
    assert params["nodes"] == 2 and params["slurm_partition"] == "gpu"
    assert params["slurm_additional_parameters"] == {"account": "abc"}
    todo = expand_grid(cfg)[:3]
    assert submit_slurm(cfg, todo, dry_run=True) == params
    # the job function and its arguments survive pickling (what submitit sends to the nodes)
    fn = pickle.loads(pickle.dumps(sweep_worker))
    assert fn is sweep_worker
    submitit = pytest.importorskip("submitit")
    from submitit.slurm import slurm

    # no SLURM here: pretend srun exists, then render the sbatch script submitit would submit
    monkeypatch.setattr(slurm.SlurmExecutor, "affinity", classmethod(lambda cls: 1))
    ex = submitit.AutoExecutor(folder=tmp_path / "sub", cluster="slurm")
    ex.update_parameters(**params)  # submitit accepts every parameter we build
    script = ex._executor._make_submission_file_text("python -m job", "uid")
    for line in (
        "--gpus-per-node=4",
        "--ntasks-per-node=4",
        "--nodes=2",
        "--partition=gpu",
        "--account=abc",
        "--time=1440",
    ):
        assert f"#SBATCH {line}" in script


def test_hydra_submitit_launcher_config_composes():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra import compose, initialize_config_dir

    from gencal.train import configs_dir

    with initialize_config_dir(config_dir=str(configs_dir()), version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=["experiment=demo", "hydra/launcher=submitit_slurm"],
            return_hydra_config=True,
        )
    assert "submitit" in cfg.hydra.launcher._target_
    with initialize_config_dir(config_dir=str(configs_dir()), version_base="1.3"):
        cfg = compose(
            config_name="config", overrides=["hydra/launcher=joblib"], return_hydra_config=True
        )
    assert "joblib" in cfg.hydra.launcher._target_.lower()


def test_multirun_syntax_and_grid_are_one_sweep(tmp_path):
    from gencal.train.sweep import compose_sweep, grid_overrides, split_sweep_overrides

    plain, grid = split_sweep_overrides(["experiment=demo", "loss=ce,gce", "seed=range(3)"])
    assert plain == ["experiment=demo"] and grid == {"loss": ["ce", "gce"], "seed": [0, 1, 2]}
    a = compose_sweep(["experiment=demo", f"output_root={tmp_path}", "loss=ce,gce", "seed=0,1"])
    b = compose_config(
        ["experiment=demo", f"output_root={tmp_path}", "grid={loss: [ce, gce], seed: [0, 1]}"]
    )
    assert [run_dir(c) for c in expand_grid(a)] == [run_dir(c) for c in expand_grid(b)]
    # the grid written back as sweep overrides composes to the same runs
    again = compose_sweep(
        ["experiment=demo", f"output_root={tmp_path}", "grid={}", *grid_overrides(b)]
    )
    assert [run_dir(c) for c in expand_grid(again)] == [run_dir(c) for c in expand_grid(b)]


def test_train_multirun_with_joblib_launcher(tmp_path):
    """`gencal train -m` through Hydra's joblib launcher trains each point once."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    cmd = [
        sys.executable,
        "-m",
        "gencal.train.app",
        "-m",
        "experiment=demo",
        f"output_root={tmp_path}",
        "trainer.epochs=1",
        "trainer.threads=1",
        "model.hidden=[8]",
        "loss=ce,gce",
        "seed=0",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = sorted(p.name.split("-")[0] for p in (tmp_path / "demo").glob("digits__*"))
    assert done == ["digits__mlp__ce__s0", "digits__mlp__gce__s0"]
    assert all(is_finished(p) for p in (tmp_path / "demo").glob("digits__*"))


def test_command_line_pins_a_grid_key(tmp_path):
    from gencal.train.sweep import compose_sweep

    cfg = compose_sweep(["experiment=demo", f"output_root={tmp_path}", "seed=2", "loss=gce,ce"])
    assert [(c.loss.name, c.seed) for c in expand_grid(cfg)] == [("gce", 2), ("ce", 2)]
