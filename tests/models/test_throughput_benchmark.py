"""Smoke test: the throughput benchmark script runs and prints one row per model."""

from __future__ import annotations

from tests.benchmark_scripts import load_benchmark


def test_model_throughput_main_runs(capsys):
    module = load_benchmark("model_throughput")
    module.main(["--models", "mlp,cnn8", "--rounds", "1", "--batch", "4", "--threads", "1"])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith(("mlp", "cnn8"))]
    assert [r[0] for r in rows] == ["mlp", "cnn8"]
    for r in rows:
        assert float(r[3]) > 0 and float(r[4]) > 0 and float(r[5]) > 0
