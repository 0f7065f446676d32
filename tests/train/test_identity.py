"""A run is its whole config: digests, folders, reuse and resume only for the same config."""

from __future__ import annotations

import copy

import pytest
from omegaconf import OmegaConf, open_dict

from gencal.train import compose_config, is_finished, run_dir, train_run
from gencal.train import datamodule as dm_mod
from gencal.train.identity import NON_SEMANTIC_KEYS, config_diff, run_digest, semantic_config
from gencal.train.run import RunConfigMismatchError
from tests.train.conftest import tiny_cfg


def _with(cfg, key, value):
    c = copy.deepcopy(cfg)
    with open_dict(c):
        OmegaConf.update(c, key, value, force_add=True)
    return c


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("trainer.epochs", 5),
        ("optimizer.lr", 0.01),
        ("loss.reduction", "sum"),
        ("data.batch_size", 33),
        ("data.cal_fraction", 0.31),
        ("data.augment.crop_padding", 3),
        ("trainer.precision", "bf16-mixed"),
        ("trainer.devices", 2),
        ("seed", 7),
    ],
)
def test_each_semantic_key_changes_the_folder(tmp_path, key, value):
    cfg = tiny_cfg(tmp_path)
    other = _with(cfg, key, value)
    assert run_dir(other) != run_dir(cfg)
    assert key in config_diff(cfg, other)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("trainer.threads", 2),
        ("trainer.progress_bar", True),
        ("data.num_workers", 9),
        ("data.eval_batch_size", 77),
        ("calibrators", ["none"]),
        ("grid", {"seed": [0, 1]}),
        ("overrides", ["x=1"]),
        ("data.root", "/elsewhere"),
    ],
)
def test_non_semantic_keys_keep_the_folder(tmp_path, key, value):
    cfg = tiny_cfg(tmp_path)
    assert run_dir(_with(cfg, key, value)) == run_dir(cfg)


def test_focal_gammas_get_two_folders():
    a = compose_config(["experiment=demo", "loss=focal", "loss.gamma=2"])
    b = compose_config(["experiment=demo", "loss=focal", "loss.gamma=3"])
    assert run_dir(a) != run_dir(b)
    assert run_dir(a).name.startswith("digits__mlp__focal__s0-")
    assert config_diff(a, b) == {"loss.gamma": (2.0, 3.0)} or config_diff(a, b) == {
        "loss.gamma": (2, 3)
    }


def test_digest_ignores_key_order_and_is_the_sha256_of_canonical_json():
    import hashlib
    import json

    tree = {"seed": 1, "loss": {"name": "gce", "lam": 1.0}, "output_root": "x"}
    expect = hashlib.sha256(
        json.dumps({"loss": {"lam": 1.0, "name": "gce"}, "seed": 1}, separators=(",", ":")).encode()
    ).hexdigest()
    assert run_digest(tree) == expect
    assert run_digest(dict(reversed(list(tree.items())))) == expect


def test_non_semantic_list_names_only_keys_of_the_config():
    cfg = OmegaConf.to_container(compose_config(["experiment=demo"]), resolve=True)
    sem = semantic_config(cfg)
    for key in ("output_root", "experiment", "grid", "calibrators"):
        assert key not in sem
    assert "trainer" in sem and "threads" not in sem["trainer"]
    assert all(isinstance(k, str) and k for k in NON_SEMANTIC_KEYS)


def test_changed_config_trains_a_new_run_and_reuses_only_the_same(tmp_path, monkeypatch):
    trainings = []
    real = dm_mod.build_run_data

    def counting(cfg):
        trainings.append(int(cfg.trainer.epochs))
        return real(cfg)

    monkeypatch.setattr(dm_mod, "build_run_data", counting)
    first = tiny_cfg(tmp_path, epochs=1)
    d1 = train_run(first)
    # another semantic config: a new folder, trained
    d2 = train_run(tiny_cfg(tmp_path, "optimizer.lr=0.01", epochs=2))
    assert d1 != d2 and is_finished(d1) and is_finished(d2)
    assert trainings == [1, 2]
    # the same config with other threads: the same folder, reused without training
    assert train_run(_with(first, "trainer.threads", 2)) == d1
    assert trainings == [1, 2]


def test_folder_of_another_config_is_never_resumed_or_reused(tmp_path):
    cfg = tiny_cfg(tmp_path, "run_name=mine", epochs=1)
    rdir = train_run(cfg)
    stamp = (rdir / "logits.npz").stat().st_mtime_ns
    other = tiny_cfg(tmp_path, "run_name=mine", "loss=gce", epochs=1)
    with pytest.raises(RunConfigMismatchError, match=r"holds a run of another config.*loss\.name"):
        train_run(other)
    assert (rdir / "logits.npz").stat().st_mtime_ns == stamp

    # an unfinished run (checkpoint, no logits) of another config is not resumed either
    (rdir / "logits.npz").unlink()
    with pytest.raises(RunConfigMismatchError):
        train_run(other)
    assert not (rdir / "logits.npz").exists()


def test_saved_meta_carries_digest_and_train_class_counts(tmp_path):
    import numpy as np

    from gencal.data import load_dataset, stratified_split
    from gencal.train import load_run

    cfg = tiny_cfg(tmp_path, epochs=1)
    meta = load_run(train_run(cfg)).meta
    assert meta["run_digest"] == run_digest(cfg)
    train = load_dataset("digits", split="train")
    tr_idx, _ = stratified_split(train.labels, float(cfg.data.cal_fraction), seed=0)
    assert meta["train_class_counts"] == np.bincount(train.labels[tr_idx], minlength=10).tolist()


def test_committed_study_runs_keep_their_identity():
    """The committed runs of the CPU studies are found again by today's configs (the study's grid,
    or the run's own overrides for a sweep beside it): a change that altered their digests would
    silently retrain them (and leave the committed ones orphaned)."""
    from pathlib import Path

    from gencal.train import expand_grid
    from gencal.train.run import check_run_identity

    results = Path(__file__).resolve().parents[2] / "docs" / "results"
    studies = sorted(p for p in results.glob("cpu_cifar10_jpeg_*") if p.is_dir())
    committed = [d for s in studies for d in s.iterdir() if (d / "logits.npz").is_file()]
    if not committed:
        pytest.skip("no committed study runs")
    import yaml

    for study in studies:
        cfg = compose_config([f"experiment={study.name}", f"output_root={results}"])
        points = {run_dir(p).name: p for p in expand_grid(cfg)}
        for d in study.iterdir():
            if not (d / "logits.npz").is_file():
                continue
            if d.name not in points:  # a sweep beside the grid (e.g. loss.lam=0.5,2): its own
                saved = yaml.safe_load((d / "config.yaml").read_text())["overrides"]
                own = [o for o in saved if not o.startswith(("output_root=", "grid."))]
                point = compose_config([*own, f"output_root={results}"])
                assert run_dir(point).name == d.name, f"{d.name}: recomposed as {run_dir(point)}"
                points[d.name] = point
            check_run_identity(d, points[d.name])


def test_a_float_loss_parameter_written_as_an_integer_is_the_same_run(tmp_path):
    as_int = compose_config(["experiment=demo", "loss=gce", "loss.lam=0"])
    as_float = compose_config(["experiment=demo", "loss=gce", "loss.lam=0.0"])
    assert as_int.loss.lam == 0.0 and isinstance(as_int.loss.lam, float)
    assert run_digest(as_int) == run_digest(as_float)
    from gencal.train import expand_grid
    from gencal.train.sweep import compose_sweep

    swept = expand_grid(compose_sweep(["experiment=demo", "loss=gce", "loss.lam=0,1", "seed=0"]))
    assert run_digest(swept[0]) == run_digest(as_float)
    flsd = compose_config(["experiment=demo", "loss=flsd53", "loss.gammas=[5,3]"])
    assert list(flsd.loss.gammas) == [5.0, 3.0]
    assert compose_config(["experiment=demo", "loss=adafocal"]).loss.num_bins == 15  # int stays
