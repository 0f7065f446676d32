"""Smoke test: the loss-overhead benchmark runs and reports a ratio for every loss."""

from __future__ import annotations

from gencal.losses import list_losses
from tests.benchmark_scripts import load_benchmark


def test_loss_overhead_main_runs(capsys, monkeypatch):
    module = load_benchmark("loss_overhead")
    monkeypatch.setattr(module, "SIZES_N", (8,))
    monkeypatch.setattr(module, "SIZES_K", (3, 5))
    out = module.main(["--quick", "--no-train-step"])
    ratios = out["loss_ratios"]
    assert set(ratios) == {*list_losses(), "gce*"}
    assert all(r > 0 for per_size in ratios.values() for r in per_size.values())
    text = capsys.readouterr().out
    assert "N=8,K=3" in text and "gce" in text
