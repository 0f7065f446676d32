"""Smoke tests: the GCE benchmarks run and report every case (they time nothing here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gce_step_reports_fused_over_plain_for_every_case(monkeypatch, capsys):
    module = _module("gce_step")
    monkeypatch.setattr(module, "SIZES_N", (8,))
    monkeypatch.setattr(module, "SIZES_K", (3,))
    out = module.main(["--quick", "--no-resnet"])
    assert set(out) == {"loss N=8,K=3", "MLP step N=8,K=3"}
    assert all(v["ratio"] > 0 and v["plain"] > 0 and v["fused"] > 0 for v in out.values())
    assert "fused/plain" in capsys.readouterr().out


def test_loss_op_counts_reports_both_gce_implementations():
    totals = _module("loss_op_counts").main(["--n", "16", "--k", "4"])
    assert set(totals) == {"ce", "focal", "gce/plain", "gce/fused"}
    assert all(c > 0 for per in totals.values() for c in per.values())
