"""One run on two CPU processes (Lightning DDP, gloo), launched like a user would."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gencal.data import load_dataset, stratified_split, to_float_tensor
from gencal.models import get_model
from gencal.train import load_run
from gencal.train.datamodule import common_train_steps

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.slow
def test_two_process_ddp_run_gathers_every_sample_in_order(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(SRC), PYTHONWARNINGS="ignore")
    cmd = [
        sys.executable,
        "-m",
        "gencal.train.app",
        "experiment=demo",
        f"output_root={tmp_path}",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "trainer.epochs=2",
        "trainer.threads=1",
        "data.cal_fraction=0.1",
        "+model.hidden=[32]",
        "loss=adafocal",  # its update() needs the cal logits of both ranks
        "seed=1",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (rdir,) = (tmp_path / "demo").glob("digits__mlp__adafocal__s1-*")
    run = load_run(rdir)

    # every sample exactly once, in the original order (labels travel with the logits)
    train = load_dataset("digits", split="train")
    test = load_dataset("digits", split="test")
    train_idx, cal_idx = stratified_split(train.labels, 0.1, seed=1)
    np.testing.assert_array_equal(run.cal_labels, train.labels[cal_idx])
    np.testing.assert_array_equal(run.test_labels, test.labels)

    # the logits are those of the final weights for each sample (recomputed in one process)
    ckpt = torch.load(rdir / "ckpt" / "last.ckpt", weights_only=False)
    model = get_model("mlp", num_classes=10, in_channels=1, input_size=8, hidden=[32])
    model.load_state_dict({k[6:]: v for k, v in ckpt["state_dict"].items() if k[:6] == "model."})
    model.eval()
    with torch.no_grad():
        for images, saved in (
            (train.images[cal_idx], run.cal_logits),
            (test.images, run.test_logits),
        ):
            want = model(to_float_tensor(images, train.mean, train.std)).numpy()
            np.testing.assert_allclose(saved, want, rtol=1e-4, atol=1e-4)

    # each rank trained on its half: global steps = epochs x steps of one shard
    assert ckpt["global_step"] == 2 * common_train_steps(len(train_idx), 64, 2)

    # the cal accuracy logged during training (gathered over both ranks) is the one the saved
    # logits give (same final weights)
    acc = float((run.cal_logits.argmax(1) == run.cal_labels).mean())
    rows = list(csv.DictReader((rdir / "logs" / "metrics.csv").open()))
    logged = [float(r["cal/acc"]) for r in rows if r.get("cal/acc")]
    assert logged[-1] == pytest.approx(acc, abs=1e-6)
    assert run.meta["cal_metrics"]["cal/acc"] == pytest.approx(acc, abs=1e-6)
