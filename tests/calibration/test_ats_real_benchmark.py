"""benchmarks/ats_real.py: CIFAR-10 runs are grouped by study, never pooled across studies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gencal.io import atomic_save_npz
from tests.benchmark_scripts import load_benchmark


def _run(root: Path, study: str, run: str, data: dict) -> None:
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(20, 3)).astype(np.float32), rng.integers(0, 3, 20)
    meta = json.dumps({"config": {"data": data}})
    atomic_save_npz(
        root / "docs" / "results" / study / run / "logits.npz",
        cal_logits=z[:10], cal_labels=y[:10], test_logits=z[10:], test_labels=y[10:],
        meta=np.array(meta),
    )  # fmt: skip


def test_cifar10_runs_are_grouped_by_study(tmp_path):
    lt = {"name": "cifar10_jpeg", "long_tail": {"imbalance_factor": 100}}
    _run(tmp_path, "cpu_cifar10_jpeg_lt", "a__ce__s0", lt)
    _run(tmp_path, "cpu_cifar10_jpeg_lt", "a__ce__s1", lt)
    _run(tmp_path, "cpu_cifar10_jpeg_n1000", "b__ce__s0", {"name": "cifar10_jpeg"})
    _run(tmp_path, "fashion_mnist_lt_h100", "c__ce__s0", {"name": "fashion_mnist"})
    studies = load_benchmark("ats_real").cifar10_studies(tmp_path)
    assert {k: (len(paths), lt) for k, (paths, lt) in studies.items()} == {
        "cifar10_jpeg_lt": (2, True),
        "cifar10_jpeg_n1000": (1, False),
    }
