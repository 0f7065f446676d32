"""Smoke test: the throughput benchmark script runs and prints one row per model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "model_throughput.py"


def test_model_throughput_main_runs(capsys):
    spec = importlib.util.spec_from_file_location("model_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--models", "mlp,cnn8", "--rounds", "1", "--batch", "4", "--threads", "1"])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith(("mlp", "cnn8"))]
    assert [r[0] for r in rows] == ["mlp", "cnn8"]
    for r in rows:
        assert float(r[3]) > 0 and float(r[4]) > 0 and float(r[5]) > 0
