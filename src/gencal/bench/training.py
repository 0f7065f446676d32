"""How a run trained, from its per-epoch log: the evidence of the overconfident regime.

A run's ``logs/metrics.csv`` (written by :mod:`gencal.train`) holds, per epoch, the training
accuracy on the epoch's batches (``train/acc``) and the calibration split's accuracy, NLL and
ECE. :func:`training_summary` reads it into one record: the final training accuracy, the final
calibration NLL and the lowest one with its epoch. A model that keeps fitting its training set
while its held-out NLL rises from its minimum has become overconfident on held-out data:
``cal_nll_final / cal_nll_best`` above 1 measures how far.

The calibration split shares the training set's class distribution (long-tailed in an LT study),
so the direct evidence is on the test split: when the run folder also holds
``best_summary.json`` or ``best_logits.npz`` (from ``ckpt/best.ckpt``, the epoch of lowest
calibration NLL, written by ``gencal predict RUN --checkpoint best``), the summary adds the test
NLL and accuracy of that model beside those of the final one (``logits.npz``).
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["training_summary"]


def _float(text: str | None) -> float | None:
    if text in (None, ""):
        return None
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def training_summary(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The training record of one run folder (empty when it has no ``logs/metrics.csv``).

    Args:
        run_dir: a run folder of :func:`gencal.train.train_run`.

    Returns:
        ``epochs`` (logged), ``train_acc_final``, ``cal_nll_final``, ``cal_nll_best``,
        ``cal_nll_best_epoch`` (0-based), ``cal_acc_final`` and ``cal_ece_final``; with
        ``best_summary.json`` or ``best_logits.npz`` also ``test_nll_best_ckpt``, ``test_acc_best_ckpt``,
        ``test_nll_final`` and ``test_acc_final``. Keys whose column is absent are left out.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> (d / "logs").mkdir()
        >>> _ = (d / "logs" / "metrics.csv").write_text(
        ...     "cal/nll,epoch,train/acc\\n0.9,0,\\n,0,0.6\\n0.7,1,\\n,1,0.9\\n0.8,2,\\n,2,0.99\\n")
        >>> s = training_summary(d)
        >>> s["train_acc_final"], s["cal_nll_best"], s["cal_nll_best_epoch"], s["cal_nll_final"]
        (0.99, 0.7, 1, 0.8)
    """
    path = Path(run_dir) / "logs" / "metrics.csv"
    if not path.is_file():
        return {}
    by_epoch: dict[int, dict[str, float]] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            epoch = _float(row.get("epoch"))
            if epoch is None:
                continue
            slot = by_epoch.setdefault(int(epoch), {})
            for key, text in row.items():
                v = _float(text)
                if v is not None and key not in ("epoch", "step"):
                    slot[key] = v
    if not by_epoch:
        return {}
    epochs = sorted(by_epoch)
    out: dict[str, Any] = {"epochs": len(epochs)}

    def last(key: str) -> float | None:
        vals = [by_epoch[e][key] for e in epochs if key in by_epoch[e]]
        return vals[-1] if vals else None

    for key, name in (
        ("train/acc", "train_acc_final"),
        ("cal/nll", "cal_nll_final"),
        ("cal/acc", "cal_acc_final"),
        ("cal/ece", "cal_ece_final"),
    ):
        v = last(key)
        if v is not None:
            out[name] = v
    nll = [(by_epoch[e]["cal/nll"], e) for e in epochs if "cal/nll" in by_epoch[e]]
    if nll:
        best, epoch = min(nll)
        out["cal_nll_best"], out["cal_nll_best_epoch"] = best, epoch
    out.update(_test_at_best_and_end(Path(run_dir)))
    return out


def _test_nll_acc(path: Path) -> tuple[float, float]:
    """Test-split NLL and accuracy of a ``logits.npz``-format file."""
    from gencal.train.predict import nll_and_accuracy

    with np.load(path) as f:
        return nll_and_accuracy(f["test_logits"], f["test_labels"])


def _test_at_best_and_end(rdir: Path) -> dict[str, float]:
    summary, best, final = rdir / "best_summary.json", rdir / "best_logits.npz", rdir / "logits.npz"
    if not final.is_file():
        return {}
    out = {}
    if summary.is_file():
        import json

        record = json.loads(summary.read_text(encoding="utf-8"))
        out["test_nll_best_ckpt"], out["test_acc_best_ckpt"] = (
            record["test_nll"],
            record["test_acc"],
        )
    elif best.is_file():
        out["test_nll_best_ckpt"], out["test_acc_best_ckpt"] = _test_nll_acc(best)
    else:
        return {}
    out["test_nll_final"], out["test_acc_final"] = _test_nll_acc(final)
    return out
