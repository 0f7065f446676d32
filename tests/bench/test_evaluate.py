"""Evaluation of finished runs: records match recomputation, reruns do no work, corrupt records
are reported (never skipped silently nor overwritten)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import softmax

from gencal.bench import CorruptRecordError, evaluate_runs, record_path
from gencal.bench.evaluate import evaluate_run
from gencal.calibration.base import Calibrator
from gencal.io import atomic_save_npz
from gencal.metrics import calibration_report


def make_run(exp_dir, loss, seed, k=4, n_cal=150, n_test=200, groups=None):
    """A finished run folder in the format of gencal.train (logits.npz with a meta JSON string)."""
    rng = np.random.default_rng(seed * 31 + len(loss))
    rd = exp_dir / f"toy__mlp__{loss}__s{seed}"

    def split(n):
        y = rng.integers(0, k, n)
        z = rng.normal(size=(n, k)) * 1.5
        z[np.arange(n), y] += 2.0 + (0.5 if loss == "gce" else 0.0)
        return z.astype(np.float32), y.astype(np.int64)

    cz, cy = split(n_cal)
    tz, ty = split(n_test)
    meta = {
        "config": {
            "experiment": exp_dir.name,
            "seed": seed,
            "data": {"name": "toy"},
            "model": {"name": "mlp"},
            "loss": {"name": loss},
        },
        "code_version": "test",
        "class_names": [str(i) for i in range(k)],
        "groups": groups,
    }
    atomic_save_npz(
        rd / "logits.npz",
        cal_logits=cz,
        cal_labels=cy,
        test_logits=tz,
        test_labels=ty,
        meta=np.array(json.dumps(meta)),
    )
    return rd


@pytest.fixture
def fit_counter(monkeypatch):
    """Count Calibrator.fit calls across every calibrator class."""
    calls = []
    orig = Calibrator.fit

    def counting(self, *a, **kw):
        calls.append(type(self).__name__)
        return orig(self, *a, **kw)

    monkeypatch.setattr(Calibrator, "fit", counting)
    return calls


def test_records_match_recomputation_and_rerun_does_nothing(tmp_path, fit_counter):
    exp = tmp_path / "toyexp"
    runs = [make_run(exp, loss, s) for loss in ("ce", "gce") for s in (0, 1)]
    ev = evaluate_runs(runs, ["none", "ts"], progress=False)
    assert len(ev.written) == 8 and ev.fit_calls == 8 and len(fit_counter) == 8
    for rd in runs:
        with np.load(rd / "logits.npz") as z:
            tz, ty = z["test_logits"].astype(np.float64), z["test_labels"]
        rec_none = json.loads(record_path(rd, "none").read_text())
        rec_ts = json.loads(record_path(rd, "ts").read_text())
        assert (rec_ts["loss"], rec_ts["seed"], rec_ts["data"], rec_ts["model"]) == (
            rd.name.split("__")[2],
            int(rd.name[-1]),
            "toy",
            "mlp",
        )
        assert rec_ts["experiment"] == "toyexp" and rec_ts["calibrator"] == "ts"
        assert rec_ts["fit_time_s"] >= 0 and rec_ts["n_test"] == 200 and rec_ts["n_cal"] == 150
        # recompute from the saved logits: softmax(z / T) with the stored temperature
        t = rec_ts["calibrator_state"]["state"]["temperature"]
        ref_ts = calibration_report(
            softmax(tz / t, axis=1), ty, inputs="probs", extra_ece_bins=(20,)
        )
        ref_none = calibration_report(softmax(tz, axis=1), ty, inputs="probs", extra_ece_bins=(20,))
        for key in ("accuracy", "ece", "ece_20b", "adaece", "classwise_ece", "nll", "brier"):
            assert rec_ts["metrics"][key] == pytest.approx(ref_ts[key], rel=1e-6, abs=1e-9), key
            assert rec_none["metrics"][key] == pytest.approx(ref_none[key], rel=1e-6, abs=1e-9)
        assert "aurc" in rec_ts["metrics"]

    stamps = {p: p.stat().st_mtime_ns for p in exp.rglob("eval/*.json")}
    ev2 = evaluate_runs(runs, ["none", "ts"], progress=False)
    assert ev2.fit_calls == 0 and len(fit_counter) == 8 and len(ev2.reused) == 8
    assert {p: p.stat().st_mtime_ns for p in exp.rglob("eval/*.json")} == stamps

    # adding a calibrator later only fits the new one
    ev3 = evaluate_runs(runs, ["none", "ts", "ts_grid"], progress=False)
    assert ev3.fit_calls == 4 and len(fit_counter) == 12


@pytest.mark.parametrize("damage", ["truncate", "drop_metrics", "bad_seed"])
def test_corrupt_record_reported_not_skipped_nor_overwritten(tmp_path, fit_counter, damage):
    exp = tmp_path / "toyexp"
    runs = [make_run(exp, "ce", s) for s in (0, 1)]
    evaluate_runs(runs, ["none", "ts"], progress=False)
    bad = record_path(runs[0], "ts")
    text = bad.read_text()
    if damage == "truncate":
        bad.write_text(text[: len(text) // 2])
    else:
        raw = json.loads(text)
        if damage == "drop_metrics":
            del raw["metrics"]
        else:
            raw["seed"] = "zero"
        bad.write_text(json.dumps(raw))
    damaged = bad.read_bytes()
    record_path(runs[1], "ts").unlink()  # one missing record: real work to do

    with pytest.raises(CorruptRecordError) as ei:
        evaluate_runs(runs, ["none", "ts"], progress=False)
    assert str(bad) in str(ei.value) and "--redo-corrupt" in str(ei.value)
    assert bad.read_bytes() == damaged  # not overwritten
    assert record_path(runs[1], "ts").is_file()  # the rest of the work was still done
    n = len(fit_counter)

    ev = evaluate_runs(runs, ["none", "ts"], redo_corrupt=True, progress=False)
    assert ev.written == [bad] and len(fit_counter) == n + 1
    assert bad.with_name("ts.json.corrupt").read_bytes() == damaged
    json.loads(bad.read_text())


def test_unfinished_run_is_an_error(tmp_path):
    rd = tmp_path / "exp" / "toy__mlp__ce__s0"
    rd.mkdir(parents=True)
    with pytest.raises(ValueError, match="not finished"):
        evaluate_run(rd, ["none"])


def test_long_tailed_groups_in_records(tmp_path):
    groups = {"0": "many", "1": "many", "2": "medium", "3": "few"}
    rd = make_run(tmp_path / "lt", "ce", 0, groups=groups)
    evaluate_runs([rd], ["none"], progress=False)
    rec = json.loads(record_path(rd, "none").read_text())
    with np.load(rd / "logits.npz") as z:
        tz, ty = z["test_logits"].astype(np.float64), z["test_labels"]
    few = ty == 3
    acc_few = (tz[few].argmax(1) == 3).mean()
    assert rec["metrics"]["accuracy@few"] == pytest.approx(acc_few)
    assert {"ece@many", "ece@medium", "ece@few"} <= set(rec["metrics"])


def test_retrained_run_gets_fresh_records(tmp_path, fit_counter):
    exp = tmp_path / "toyexp"
    rd = make_run(exp, "ce", 0)
    evaluate_runs([rd], ["ts"], progress=False)
    old = json.loads(record_path(rd, "ts").read_text())
    make_run(exp, "ce", 0, n_test=150)  # "retrained": new logits in the same folder
    ev = evaluate_runs([rd], ["ts"], progress=False)
    assert ev.stale == [record_path(rd, "ts")] and len(fit_counter) == 2
    new = json.loads(record_path(rd, "ts").read_text())
    assert new["n_test"] == 150 != old["n_test"]
    assert new["logits_sha256"] != old["logits_sha256"]


def test_changed_calibrator_settings_are_redone(tmp_path, fit_counter):
    from gencal.bench import parse_calibrators

    rd = make_run(tmp_path / "toyexp", "ce", 0)
    evaluate_runs([rd], parse_calibrators(["ats"]), progress=False)
    evaluate_runs([rd], parse_calibrators(["ats"]), progress=False)
    assert len(fit_counter) == 1
    ev = evaluate_runs(
        [rd], parse_calibrators([{"name": "ats", "min_piece_size": 30}]), progress=False
    )
    assert ev.stale == [record_path(rd, "ats")] and len(fit_counter) == 2
    rec = json.loads(record_path(rd, "ats").read_text())
    assert rec["calibrator_hparams"] == {"min_piece_size": 30}
    assert rec["calibrator_state"]["params"]["min_piece_size"] == 30


def test_run_identity_from_folder_names(tmp_path):
    from gencal.bench.evaluate import run_identity

    meta = {
        "config": {
            "experiment": "e",
            "seed": 2,
            "data": {"name": "digits"},
            "model": {"name": "mlp"},
            "loss": {"name": "focal"},
        }
    }
    ident = run_identity(tmp_path / "e" / "digits-lt10__mlp__focal__s2__loss.gamma=1", meta)
    assert (ident["data"], ident["loss"], ident["seed"]) == (
        "digits-lt10",
        "focal[loss.gamma=1]",
        2,
    )
    ident = run_identity(tmp_path / "e" / "my_custom_run", meta)
    assert (ident["data"], ident["model"], ident["loss"], ident["seed"]) == (
        "digits",
        "mlp",
        "focal",
        2,
    )
    with pytest.raises(ValueError, match="cannot tell its"):
        run_identity(tmp_path / "e" / "my_custom_run", {})
