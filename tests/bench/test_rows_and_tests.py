"""Rows grouped by config, Holm's correction, configured comparisons and fitted choices."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import yaml
from scipy import stats

from gencal.bench.cells import label_rows, short_key_names
from gencal.bench.records import RECORD_SCHEMA, record_path, write_record
from gencal.bench.report import build_report
from gencal.bench.stats import holm, paired_tests


def _config(loss: str, seed: int, **over) -> dict:
    cfg = {
        "seed": seed,
        "experiment": "study",
        "output_root": "runs",
        "data": {"name": "digits", "num_workers": 4},
        "model": {"name": "mlp", "hidden": [8, 8]},
        "loss": {"name": loss, "reduction": "mean"},
        "trainer": {"epochs": 10, "threads": 1, "optimizer": {"name": "sgd", "lr": 0.1}},
    }
    for dotted, v in over.items():
        *parents, last = dotted.split("__")
        node = cfg
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = v
    return cfg


def _record(run: str, loss: str, seed: int, cal: str, ece: float, state=None) -> dict:
    return {
        "schema": RECORD_SCHEMA,
        "experiment": "study",
        "data": "digits",
        "model": "mlp",
        "loss": loss,
        "seed": seed,
        "calibrator": cal,
        "run": run,
        "calibrator_state": state or {"name": cal},
        "fit_time_s": 0.0,
        "n_cal": 10,
        "n_test": 10,
        "num_classes": 3,
        "metrics": {"accuracy": 0.9, "ece": ece, "nll": 0.3 + ece},
    }


def _write_study(root, runs: dict[str, dict], cals=("none", "ts"), rng=None) -> tuple:
    """Write run folders with config.yaml and one record per calibrator; return (exp, values)."""
    rng = rng or np.random.default_rng(0)
    exp = root / "study"
    values = {}
    for name, cfg in runs.items():
        (exp / name).mkdir(parents=True)
        (exp / name / "config.yaml").write_text(yaml.safe_dump(cfg))
        for cal in cals:
            ece = float(rng.uniform(0.01, 0.1))
            values[(name, cal)] = ece
            write_record(
                record_path(exp / name, cal),
                _record(name, cfg["loss"]["name"], cfg["seed"], cal, ece),
            )
    return exp, values


def _summary_rows(out) -> list[dict]:
    with open(out / "summary.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_one_semantic_key_apart_gives_two_labelled_rows_and_seeds_pool(tmp_path):
    runs = {}
    for s in (0, 1, 2):
        runs[f"digits__mlp__ce__s{s}-aaaa000{s}"] = _config("ce", s, trainer__threads=s + 1)
        for g in (2, 3):
            runs[f"digits__mlp__focal__s{s}-g{g}00000{s}"] = _config(
                "focal", s, loss__gamma=g, output_root=f"elsewhere{s}"
            )
    exp, values = _write_study(tmp_path, runs)
    out = build_report(exp, figures=False)
    rows = [r for r in _summary_rows(out) if r["metric"] == "ece"]
    labels = {r["loss"] for r in rows}
    # threads / output_root / experiment are not semantic: CE's three seeds pool into one row
    # gamma=3 is the focal preset's value: that row keeps the plain name
    assert labels == {"ce", "focal(gamma=2)", "focal"}
    for r in rows:
        assert r["seeds"] == "0 1 2"
        loss, cal = r["loss"], r["calibrator"]
        gamma = {"ce": None, "focal(gamma=2)": 2, "focal": 3}[loss]
        v = [
            values[(name, cal)]
            for name, cfg in runs.items()
            if cfg["loss"]["name"] == loss.split("(")[0] and cfg["loss"].get("gamma") == gamma
        ]
        assert len(v) == 3
        assert float(r["mean"]) == pytest.approx(np.mean(v), rel=1e-12)
    md = (out / "report.md").read_text()
    assert "| focal(gamma=2) | ce | none | 3 | t-test |" in md


def test_other_keys_follow_the_name_and_pick_the_matching_reference():
    recs = []
    for s in (0, 1):
        for loss in ("ce", "gce"):
            for epochs in (10, 30):
                cfg = _config(loss, s, trainer__epochs=epochs)
                run = f"digits__mlp__{loss}__s{s}-e{epochs}"
                recs.append({**_record(run, loss, s, "ts", 0.05), "config": cfg})
    labelled = label_rows(recs)
    got = {(r["loss"], r.get("reference_row")) for r in labelled}
    assert got == {
        ("ce epochs=10", None),
        ("ce epochs=30", None),
        ("gce epochs=10", "ce epochs=10"),
        ("gce epochs=30", "ce epochs=30"),
    }
    # labelling twice gives the same rows
    assert [r["loss"] for r in label_rows(labelled)] == [r["loss"] for r in labelled]


def test_short_key_names_disambiguate():
    keys = ["trainer.epochs", "trainer.optimizer.lr", "trainer.scheduler.lr", "loss.gamma"]
    assert short_key_names(keys) == {
        "trainer.epochs": "epochs",
        "trainer.optimizer.lr": "optimizer.lr",
        "trainer.scheduler.lr": "scheduler.lr",
        "loss.gamma": "gamma",
    }


def test_old_run_folders_without_digest_or_config_yaml_still_report(tmp_path):
    """Folders named <data>__<model>__<loss>__s<seed>, config only in logits.npz meta, or none."""
    import json

    exp = tmp_path / "old"
    for s in (0, 1):
        for loss in ("ce", "gce"):
            rd = exp / f"digits__mlp__{loss}__s{s}"
            rd.mkdir(parents=True)
            meta = json.dumps({"config": _config(loss, s)})
            np.savez(rd / "logits.npz", meta=np.array(meta))
            write_record(record_path(rd, "ts"), _record(rd.name, loss, s, "ts", 0.02 + 0.01 * s))
    rd = exp / "digits__mlp__focal__s0"  # no config anywhere: the folder name labels it
    write_record(record_path(rd, "ts"), _record(rd.name, "focal", 0, "ts", 0.03))
    out = build_report(exp, figures=False)
    rows = {(r["loss"], r["seeds"]) for r in _summary_rows(out) if r["metric"] == "ece"}
    assert rows == {("ce", "0 1"), ("gce", "0 1"), ("focal", "0")}


def test_holm_hand_computed():
    # sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> 0.06)
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02])
    # NaN entries are no test: m counts the others
    np.testing.assert_allclose(holm([math.nan, 0.2, 0.01]), [math.nan, 0.2, 0.02])
    assert holm([0.6, 0.7]).tolist() == [1.0, 1.0]
    assert holm([]).size == 0


def test_holm_rejects_as_the_step_down_procedure():
    rng = np.random.default_rng(5)
    for _ in range(200):
        p = rng.uniform(0, 0.1, size=rng.integers(1, 12))
        m, alpha = p.size, 0.05
        reject = np.zeros(m, bool)  # the textbook procedure, step by step
        for k, i in enumerate(np.argsort(p)):
            if p[i] > alpha / (m - k):
                break
            reject[i] = True
        np.testing.assert_array_equal(holm(p) <= alpha, reject)


def test_paired_tests_csv_holds_holm_within_each_metric_and_calibrator(tmp_path):
    """p_holm = Holm over the losses tested against the reference for one metric and calibrator."""
    rng = np.random.default_rng(1)
    runs = {}
    for s in range(4):
        runs[f"digits__mlp__ce__s{s}"] = _config("ce", s)
        runs[f"digits__mlp__gce__s{s}"] = _config("gce", s)
        runs[f"digits__mlp__focal__s{s}"] = _config("focal", s)
    exp, _ = _write_study(tmp_path, runs, cals=("none", "ts", "ats"), rng=rng)
    out = build_report(exp, figures=False)
    with open(out / "paired_tests.csv", newline="") as fh:
        tests = list(csv.DictReader(fh))
    assert {t["test"] for t in tests} == {"t-test"} and {t["n"] for t in tests} == {"4"}
    families: dict[tuple[str, str], list[dict]] = {}
    for t in tests:
        families.setdefault((t["metric"], t["calibrator"]), []).append(t)
    assert {len(f) for f in families.values()} == {2}  # gce and focal vs ce
    for fam in families.values():
        raw = np.array([float(t["p_value"]) for t in fam])
        np.testing.assert_allclose([float(t["p_holm"]) for t in fam], holm(raw))
    md = (out / "report.md").read_text()
    assert "Holm" in md and "n = 4 pairs" in md and "t-test" in md


def test_bold_uses_the_adjusted_p():
    from gencal.bench.report.tables import paired_tables, resolve_metrics
    from gencal.bench.stats import PairedTest

    metrics = resolve_metrics({"ece"})
    t = PairedTest("d", "m", "ts", "gce", "ce", "ece", 5, 0.01, 0.01, math.nan, "t-test")
    (tab,) = paired_tables([t.__class__(**{**t.__dict__, "p_holm": 0.2})], metrics)
    assert tab.bold == set()
    (tab,) = paired_tables([t.__class__(**{**t.__dict__, "p_holm": 0.02})], metrics)
    assert tab.bold == {(0, 5)} and "Holm 0.02" in tab.rows[0][5]


def test_configured_comparisons_pair_across_calibrators(tmp_path):
    recs = []
    rng = np.random.default_rng(2)
    for s in range(5):
        recs += [
            {**_record(f"g{s}", "gce", s, "ats", rng.uniform()), "config": _config("gce", s)},
        ]
        for g in (1, 3):
            cfg = _config("focal", s, loss__gamma=g)
            recs.append({**_record(f"f{g}{s}", "focal", s, "ts", rng.uniform()), "config": cfg})
    labelled = label_rows(recs)
    from gencal.bench.stats import parse_comparisons

    # "focal" is the label of the preset row (gamma=3): it names that row only
    comps = parse_comparisons(["gce+ats vs focal+ts", "gce+ats vs focal(gamma=1)+ts"], labelled)
    assert [(c.loss, c.calibrator, c.reference, c.reference_calibrator) for c in comps] == [
        ("gce", "ats", "focal", "ts"),
        ("gce", "ats", "focal(gamma=1)", "ts"),
    ]
    tests = paired_tests(labelled, ["ece"], comparisons=comps)
    for t, g in zip(tests, (3, 1)):
        a = [r["metrics"]["ece"] for r in recs if r["run"].startswith("g")]
        b = [r["metrics"]["ece"] for r in recs if r["run"].startswith(f"f{g}")]
        assert t.n == 5 and t.p_ttest == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-10)
    with pytest.raises(ValueError, match=r"report\.comparisons"):
        parse_comparisons(["gce ats against focal"], labelled)


def test_fitted_choice_summarised_per_row(tmp_path):
    from gencal.calibration import get_calibrator

    rng = np.random.default_rng(3)
    runs, temps = {}, []
    exp = tmp_path / "study"
    for s in range(3):
        name = f"digits__mlp__ce__s{s}"
        y = rng.integers(0, 3, 200)
        z = rng.normal(size=(200, 3)) * 3 + 2 * np.eye(3)[y]
        cal = get_calibrator("ts").fit(z, y)
        temps.append(cal.temperature_)
        runs[name] = _config("ce", s)
        rec = _record(name, "ce", s, "ts", 0.05, state=cal.to_json())
        write_record(record_path(exp / name, "ts"), rec)  # an old record: no "fitted" field
    md = (build_report(exp, figures=False) / "report.md").read_text()
    t = np.array(temps)
    assert f"| ce | ts | {np.median(t):.4g} [{t.min():.4g}, {t.max():.4g}] |" in md


def test_rows_of_a_sweep_sort_by_value():
    from gencal.bench.stats import summarise

    recs = [
        {**_record(f"r{e}", "ce", 0, "ts", 0.05), "loss": f"ce epochs={e}", "loss_name": "ce"}
        for e in (30, 3, 100)
    ]
    assert [s.loss for s in summarise(recs)] == ["ce epochs=3", "ce epochs=30", "ce epochs=100"]
