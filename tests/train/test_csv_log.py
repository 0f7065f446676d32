"""The per-epoch CSV log across a resume (the end-to-end case is in test_resume.py)."""

from __future__ import annotations

import csv

import torch

from gencal.train.csv_log import (
    MetricsCSVWriter,
    ResumableCSVLogger,
    ResumePoint,
    kept_rows,
    resume_point,
)

# as Lightning writes it: the learning-rate row at an epoch's start has no epoch value
OLD_LOG = (
    "cal/nll,epoch,lr-SGD,step,train/acc\r\n"
    ",,0.1,0,\r\n"
    "1.5,0,,9,\r\n"
    ",0,,9,0.4\r\n"
    ",,0.09,10,\r\n"
    "1.2,1,,19,\r\n"
    ",1,,19,0.6\r\n"
    ",,0.08,20,\r\n"
    "1.1,2,,29,\r\n"  # epoch 2 was cut short by the kill: its checkpoint was never saved
)


def _old_log(tmp_path):
    path = tmp_path / "logs" / "metrics.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(OLD_LOG.encode())
    return path


def test_resume_keeps_the_checkpointed_epochs_and_their_text(tmp_path):
    path = _old_log(tmp_path)
    torch.save({"epoch": 1, "global_step": 20}, tmp_path / "last.ckpt")
    resume = resume_point(tmp_path / "last.ckpt")
    assert resume == ResumePoint(next_epoch=2, global_step=20)
    rows = kept_rows(path, resume)
    assert [r["step"] for r in rows] == ["0", "9", "9", "10", "19", "19"]

    logger = ResumableCSVLogger(tmp_path, resume)
    logger.log_metrics({"epoch": 2, "cal/nll": torch.tensor(1.0)}, step=29)
    logger.save()
    text = path.read_bytes().decode()
    assert text.startswith("".join(OLD_LOG.splitlines(keepends=True)[:7]))  # kept as written
    last = list(csv.DictReader(text.splitlines()))[-1]
    assert (last["epoch"], last["cal/nll"], last["step"]) == ("2", "1.0", "29")


def test_fresh_start_replaces_an_old_log(tmp_path):
    path = _old_log(tmp_path)  # a run killed in its first epoch leaves no checkpoint
    assert kept_rows(path, resume_point(tmp_path / "missing.ckpt")) == []
    logger = ResumableCSVLogger(tmp_path, None)
    logger.log_metrics({"epoch": 0, "train/acc": 0.5}, step=9)
    logger.save()
    assert path.read_bytes().decode() == "epoch,step,train/acc\r\n0,9,0.5\r\n"


def test_new_metric_names_widen_the_header_of_every_row(tmp_path):
    w = MetricsCSVWriter(str(tmp_path), rows=[{"epoch": "0", "step": "9"}])
    w.log_metrics({"epoch": 1, "train/regulariser": 0.25}, step=19)
    w.save()
    rows = list(csv.DictReader((tmp_path / "metrics.csv").read_text().splitlines()))
    assert rows == [
        {"epoch": "0", "step": "9", "train/regulariser": ""},
        {"epoch": "1", "step": "19", "train/regulariser": "0.25"},
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]  # no temporary file


def test_logging_without_a_step_counts_the_rows(tmp_path):
    logger = ResumableCSVLogger(tmp_path)
    logger.log_metrics({"x": 1.0})
    logger.log_metrics({"x": 2.0})
    assert (tmp_path / "logs" / "metrics.csv").read_text().split() == ["step,x", "0,1.0", "1,2.0"]
