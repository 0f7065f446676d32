"""Logits of saved checkpoints: ``predict_checkpoint`` and ``gencal predict``."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from gencal._checks import GencalInputError
from gencal.cli import main
from gencal.train import load_run, train_run
from gencal.train.predict import predict_checkpoint
from tests.train.conftest import tiny_cfg


def _softmax_nll(z, y):
    z = z.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return float((np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]).mean())


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_run(tiny_cfg(tmp_path_factory.mktemp("predict"), "seed=1", epochs=4))


def test_last_checkpoint_reproduces_the_final_logits(run_dir, tmp_path):
    out = predict_checkpoint(run_dir, "last", out=tmp_path / "last.npz")
    last, final = load_run(out), load_run(run_dir)
    np.testing.assert_allclose(last.test_logits, final.test_logits, atol=1e-5)
    np.testing.assert_allclose(last.cal_logits, final.cal_logits, atol=1e-5)
    np.testing.assert_array_equal(last.test_labels, final.test_labels)
    assert last.meta["checkpoint"] == "last" and last.meta["checkpoint_epoch"] == 3


def test_best_checkpoint_is_the_epoch_of_lowest_cal_nll(run_dir, tmp_path):
    out = predict_checkpoint(run_dir, "best", out=tmp_path / "best.npz")
    best = load_run(out)
    with open(run_dir / "logs" / "metrics.csv", newline="") as fh:
        nll = {int(r["epoch"]): float(r["cal/nll"]) for r in csv.DictReader(fh) if r["cal/nll"]}
    epoch = min(nll, key=nll.get)
    assert best.meta["checkpoint_epoch"] == epoch
    # the logged calibration NLL of that epoch is the NLL of the predicted cal logits
    assert _softmax_nll(best.cal_logits, best.cal_labels) == pytest.approx(nll[epoch], rel=1e-4)
    summary = json.loads((tmp_path / "best_summary.json").read_text())
    assert summary["checkpoint_epoch"] == epoch
    assert summary["cal_nll"] == pytest.approx(nll[epoch], rel=1e-4)
    assert summary["test_nll"] == pytest.approx(_softmax_nll(best.test_logits, best.test_labels))
    acc = float((best.test_logits.argmax(1) == best.test_labels).mean())
    assert summary["test_acc"] == pytest.approx(acc)


def test_missing_checkpoint_and_folder_are_clear_errors(run_dir, tmp_path):
    with pytest.raises(GencalInputError, match="no such checkpoint"):
        predict_checkpoint(run_dir, "epoch7")
    with pytest.raises(GencalInputError, match="not a run folder"):
        predict_checkpoint(tmp_path, "best")


def test_cli_writes_best_logits_once(run_dir, capsys):
    target = run_dir / "best_logits.npz"
    target.unlink(missing_ok=True)
    assert main(["predict", str(run_dir)]) == 0
    line = capsys.readouterr().out
    assert target.is_file() and "test acc" in line and "test NLL" in line
    before = target.stat().st_mtime_ns
    assert main(["predict", str(run_dir)]) == 0
    assert "exists" in capsys.readouterr().out and target.stat().st_mtime_ns == before
    assert main(["predict", str(run_dir), "--checkpoint", "nope"]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
