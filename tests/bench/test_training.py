"""The training record of runs: read from logs/metrics.csv, summarised per row."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gencal.bench.report.tables import training_tables
from gencal.bench.training import training_summary


def _log(run_dir, nll, acc):
    (run_dir / "logs").mkdir(parents=True)
    lines = ["cal/acc,cal/nll,epoch,step,train/acc,train/loss"]
    for e, (n, a) in enumerate(zip(nll, acc)):
        lines += [f"0.5,{n},{e},{e * 10},,", f",,{e},{e * 10},{a},0.1"]
    (run_dir / "logs" / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_training_summary_reads_best_and_final(tmp_path):
    _log(tmp_path, [1.0, 0.6, 0.8, 0.9], [0.5, 0.8, 0.95, 1.0])
    s = training_summary(tmp_path)
    assert s == {
        "epochs": 4,
        "train_acc_final": 1.0,
        "cal_nll_final": 0.9,
        "cal_acc_final": 0.5,
        "cal_nll_best": 0.6,
        "cal_nll_best_epoch": 1,
    }
    assert training_summary(tmp_path / "missing") == {}


def test_training_table_averages_seeds_per_row(tmp_path):
    recs = []
    for seed, (best, end) in enumerate([(0.6, 0.9), (0.7, 1.1)]):
        run = f"d__m__ce__s{seed}"
        _log(tmp_path / run, [1.0, best, end], [0.7, 0.9, 0.99])
        for cal in ("none", "ts"):  # two records of one run count once
            recs.append({"data": "d", "model": "m", "loss": "ce", "run": run, "calibrator": cal})
    (table,) = training_tables(recs, tmp_path)
    row = table.rows[0]
    assert row[:2] == ["ce", "2"]
    assert row[2] == "99 ± 0"
    assert row[3] == f"0.65 ± {np.std([0.6, 0.7], ddof=1):.2g}"
    assert row[4] == "1.0 ± 0"
    assert row[5].startswith("1 ± ")


def _logits_file(path, z, y):
    np.savez(path, cal_logits=z, cal_labels=y, test_logits=z, test_labels=y)


def test_best_epoch_logits_add_test_nll_at_best_and_end(tmp_path):
    _log(tmp_path, [1.0, 0.6, 0.9], [0.5, 0.9, 1.0])
    y = np.array([0, 1, 1, 0])
    mild = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])  # 3 of 4 right
    _logits_file(tmp_path / "logits.npz", 10 * mild, y)
    assert "test_nll_final" not in training_summary(tmp_path)  # no best_logits.npz yet
    _logits_file(tmp_path / "best_logits.npz", mild, y)
    s = training_summary(tmp_path)

    def nll(z):
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        return float(-np.log(p[np.arange(4), y]).mean())

    assert s["test_nll_best_ckpt"] == pytest.approx(nll(mild))
    assert s["test_nll_final"] == pytest.approx(nll(10 * mild))
    assert s["test_acc_best_ckpt"] == s["test_acc_final"] == 0.75
    recs = [{"data": "d", "model": "m", "loss": "ce", "run": ".", "calibrator": "none"}]
    (table,) = training_tables(recs, tmp_path)
    assert {"test NLL (best cal epoch)", "test NLL (end)"} <= set(table.columns)
    assert "best_summary.json" in table.note
    # a study commits the small summary, not the best-epoch logits: the table reads it
    (tmp_path / "best_logits.npz").unlink()
    assert "test_nll_best_ckpt" not in training_summary(tmp_path)
    summary = {"test_nll": 0.5, "test_acc": 0.25, "checkpoint_epoch": 1}
    (tmp_path / "best_summary.json").write_text(json.dumps(summary))
    s = training_summary(tmp_path)
    assert (s["test_nll_best_ckpt"], s["test_acc_best_ckpt"]) == (0.5, 0.25)
    assert s["test_nll_final"] == pytest.approx(nll(10 * mild))
