"""End to end on scikit-learn digits: train -> logits -> calibrators -> report; a rerun does no work."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from gencal.calibration import load_calibrator
from gencal.calibration.base import Calibrator
from gencal.metrics import calibration_report

pytestmark = pytest.mark.slow

OVERRIDES = [
    "experiment=demo",
    "trainer.epochs=1",
    "grid.loss=[ce,gce]",
    "grid.seed=[0,1]",
]


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_bench_end_to_end_and_rerun(tmp_path, monkeypatch, capsys):
    from gencal.bench import run_bench
    from gencal.bench.runner import compose_config
    from gencal.cli import main

    cfg = compose_config([*OVERRIDES, f"output_root={tmp_path}"])
    res = run_bench(cfg, workers=1, progress=False)
    exp = tmp_path / "demo"
    assert res.experiment_dir == exp
    assert len(res.run_dirs) == 4
    rep = exp / "report"
    for f in (
        "index.html",
        "report.md",
        "tables.tex",
        "results.csv",
        "summary.csv",
        "paired_tests.csv",
    ):
        assert (rep / f).is_file(), f
    figs = sorted(p.name for p in (rep / "figures").glob("*.png"))
    model = str(cfg.model.name)
    assert f"acc_vs_ece_digits__{model}.png" in figs
    assert {f"reliability_digits__{model}__{lo}.png" for lo in ("ce", "gce")} <= set(figs)
    html = (rep / "index.html").read_text()
    assert html.count("data:image/png;base64,") == len(figs)

    # every (run, calibrator) row holds what recomputing from the saved logits gives
    rows = _rows(exp / "results.csv")
    assert len(rows) == 4 * 3
    assert {r["calibrator"] for r in rows} == {"none", "ts", "ats"}
    recomputed = {}
    for row in rows:
        rd = exp / row["run"]
        with np.load(rd / "logits.npz") as z:
            tz, ty = z["test_logits"].astype(np.float64), z["test_labels"]
            meta = json.loads(str(z["meta"]))
        assert meta["config"]["loss"]["name"] == row["loss"]
        state = json.loads((rd / "eval" / f"{row['calibrator']}.json").read_text())[
            "calibrator_state"
        ]
        probs = load_calibrator(state).predict_proba(tz)
        ref = calibration_report(probs, ty, inputs="probs", extra_ece_bins=(20,))
        for key in ("accuracy", "ece", "ece_20b", "adaece", "classwise_ece", "nll", "brier"):
            assert float(row[key]) == pytest.approx(ref[key], rel=1e-6, abs=1e-9), (row["run"], key)
        recomputed[(row["loss"], row["calibrator"], int(row["seed"]))] = ref
    # and the summary table's mean/std are those of the recomputed values over seeds
    for row in _rows(rep / "summary.csv"):
        if row["metric"] != "ece":
            continue
        v = np.array([recomputed[(row["loss"], row["calibrator"], s)]["ece"] for s in (0, 1)])
        assert float(row["mean"]) == pytest.approx(v.mean(), rel=1e-6)
        assert float(row["std"]) == pytest.approx(v.std(ddof=1), rel=1e-6)
        assert (
            f"{v.mean() * 100:.2f} ± {v.std(ddof=1) * 100:.2f}" in (rep / "report.md").read_text()
        )

    # second time, through the CLI (`gencal demo`): no training, no calibrator fit, no record rewritten
    stamps = {
        p: p.stat().st_mtime_ns for p in exp.rglob("*") if p.suffix in (".npz", ".ckpt", ".json")
    }
    fits = []
    orig = Calibrator.fit
    monkeypatch.setattr(
        Calibrator, "fit", lambda self, *a, **k: fits.append(1) or orig(self, *a, **k)
    )
    import gencal.train as gt

    trains = []
    if hasattr(gt, "train_run"):
        orig_train = gt.train_run
        monkeypatch.setattr(
            gt, "train_run", lambda *a, **k: trains.append(1) or orig_train(*a, **k)
        )
    # `gencal demo` is `gencal bench experiment=demo` + the summary
    demo_args = [o for o in OVERRIDES if o != "experiment=demo"]
    rc = main(
        ["demo", *demo_args, "--output-root", str(tmp_path), "-q", "--no-figures", "--workers", "1"]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "0 trained now, 4 reused" in out and "0 calibrator fits (12 reused)" in out
    assert fits == [] and trains == []
    after = {p: p.stat().st_mtime_ns for p in stamps}
    assert after == stamps
    assert "index.html" in out and "ECE-15" in out
