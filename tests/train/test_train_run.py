"""End to end: train on digits -> logits.npz -> load_run; finished runs are not redone."""

from __future__ import annotations

import itertools
import json
import time

import numpy as np
import pytest

from gencal import GencalInputError
from gencal.data import load_dataset, stratified_split
from gencal.train import RunNotFinishedError, load_run, run_dir, train_run
from gencal.train.identity import run_digest
from tests.train.conftest import tiny_cfg


def _softmax(z):
    z = z - z.max(1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(1, keepdims=True)


def _ece_l1(probs, labels, n_bins=15):
    """Naive top-label ECE with equal-width bins (right-closed, as torchmetrics)."""
    conf = probs.max(1)
    acc = (probs.argmax(1) == labels).astype(float)
    edges = np.linspace(0, 1, n_bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(acc[m].mean() - conf[m].mean())
    return total


def test_train_run_end_to_end(tmp_path):
    cfg = tiny_cfg(tmp_path, "loss=gce", "seed=3", epochs=3)
    rdir = train_run(cfg)
    assert rdir == run_dir(cfg)
    assert rdir.name == f"digits__mlp__gce__s3-{run_digest(cfg)[:8]}"
    assert (rdir / "config.yaml").is_file() and (rdir / "ckpt" / "last.ckpt").is_file()
    run = load_run(rdir)

    # labels in the original sample order: the test split, and the seeded stratified cal split
    train = load_dataset("digits", split="train")
    test = load_dataset("digits", split="test")
    _, cal_idx = stratified_split(train.labels, cfg.data.cal_fraction, seed=3)
    np.testing.assert_array_equal(run.test_labels, test.labels)
    np.testing.assert_array_equal(run.cal_labels, train.labels[cal_idx])
    assert run.cal_logits.shape == (len(cal_idx), 10)
    assert run.test_logits.shape == (len(test.labels), 10)
    assert np.isfinite(run.test_logits).all()
    assert run.cal_logits.dtype == np.float32 and run.test_labels.dtype == np.int64

    # a trained model, and metadata
    assert (run.test_logits.argmax(1) == run.test_labels).mean() > 0.6
    meta = run.meta
    assert meta["config"]["loss"]["name"] == "gce"
    assert meta["code_version"].startswith("0.")
    assert meta["class_names"] == [str(i) for i in range(10)]
    assert meta["groups"] is None
    assert meta["epochs_trained"] == 3
    assert meta["training_seconds"] > 0
    # the cal metrics in meta equal those recomputed from the saved logits
    probs = _softmax(run.cal_logits.astype(np.float64))
    acc = (probs.argmax(1) == run.cal_labels).mean()
    nll = -np.log(probs[np.arange(len(probs)), run.cal_labels]).mean()
    assert meta["cal_metrics"]["cal/acc"] == pytest.approx(acc, abs=1e-6)
    assert meta["cal_metrics"]["cal/nll"] == pytest.approx(nll, rel=1e-4)
    assert meta["cal_metrics"]["cal/ece"] == pytest.approx(_ece_l1(probs, run.cal_labels), abs=1e-4)

    # per-epoch logs with the loss's named parts
    header = (rdir / "logs" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train/ce", "train/regulariser", "cal/acc", "cal/ece"} <= set(header)

    # a finished run is never redone
    stamp = (rdir / "logits.npz").stat().st_mtime_ns
    t0 = time.perf_counter()
    assert train_run(cfg) == rdir
    assert time.perf_counter() - t0 < 1.0
    assert (rdir / "logits.npz").stat().st_mtime_ns == stamp


def test_load_run_errors(tmp_path):
    with pytest.raises(RunNotFinishedError, match="has not finished"):
        load_run(tmp_path)
    (tmp_path / "logits.npz").write_bytes(b"not a zip file")
    with pytest.raises(GencalInputError, match="corrupt run file"):
        load_run(tmp_path)
    np.savez_compressed(tmp_path / "logits.npz", cal_logits=np.zeros((2, 3)))
    with pytest.raises(GencalInputError, match="missing arrays"):
        load_run(tmp_path)
    np.savez_compressed(
        tmp_path / "logits.npz",
        cal_logits=np.zeros((2, 3)),
        cal_labels=np.zeros(3, np.int64),
        test_logits=np.zeros((2, 3)),
        test_labels=np.zeros(2, np.int64),
        meta=np.array(json.dumps({})),
    )
    with pytest.raises(GencalInputError, match="cal_logits"):
        load_run(tmp_path)


def test_tiny_batch_warning_for_gce(tmp_path):
    cfg = tiny_cfg(tmp_path, "loss=gce", "data.batch_size=4", epochs=1)
    with pytest.warns(UserWarning, match="tiny for GCE"):
        train_run(cfg)


def test_streaming_loader_trains_from_an_image_folder(tmp_path):
    """data.loader=stream: uint8 batches from a DataLoader, converted/augmented on the device."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 30), ("test", 8)):
        for c, name in enumerate(("dark", "light")):
            folder = tmp_path / "imgs" / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                base = 40 + 150 * c
                arr = np.clip(base + rng.integers(-30, 30, (8, 8, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(arr).save(folder / f"{i:03d}.png")
    cfg = tiny_cfg(
        tmp_path / "out",
        "data.name=image_folder",
        "data.loader=stream",
        "data.num_workers=0",
        f"+data.kwargs.path={tmp_path / 'imgs'}",
        "+data.mean=[0.5,0.5,0.5]",
        "+data.std=[0.3,0.3,0.3]",
        "data.batch_size=16",
        "data.cal_fraction=0.2",
        "data.augment.crop_padding=1",
        "data.augment.flip=true",
        epochs=3,
    )
    run = load_run(train_run(cfg))
    assert run.class_names == ["dark", "light"]
    np.testing.assert_array_equal(run.test_labels, np.repeat([0, 1], 8))
    assert len(run.cal_labels) == 12 and sorted(set(run.cal_labels.tolist())) == [0, 1]
    assert (run.test_logits.argmax(1) == run.test_labels).mean() == 1.0  # an easy problem
