"""Smoke tests: the GCE benchmarks run and report every case (they time nothing here)."""

from __future__ import annotations

from tests.benchmark_scripts import load_benchmark


def test_gce_step_reports_fused_over_plain_for_every_case(monkeypatch, capsys):
    module = load_benchmark("gce_step")
    monkeypatch.setattr(module, "SIZES_N", (8,))
    monkeypatch.setattr(module, "SIZES_K", (3,))
    out = module.main(["--quick", "--no-resnet"])
    assert set(out) == {"loss N=8,K=3", "MLP step N=8,K=3"}
    assert all(v["ratio"] > 0 and v["plain"] > 0 and v["fused"] > 0 for v in out.values())
    assert "fused/plain" in capsys.readouterr().out


def test_loss_op_counts_reports_both_gce_implementations():
    totals = load_benchmark("loss_op_counts").main(["--n", "16", "--k", "4"])
    assert set(totals) == {"ce", "focal", "gce/plain", "gce/fused"}
    assert all(c > 0 for per in totals.values() for c in per.values())
