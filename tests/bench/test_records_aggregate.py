"""Records: strict reading (corrupt files reported by name), aggregation to results.csv."""

from __future__ import annotations

import csv
import json
import math

import pytest

from gencal.bench.aggregate import collect_records, read_results_csv, write_results_csv
from gencal.bench.records import CorruptRecordError, read_record, record_path, write_record

from .conftest import make_records, write_experiment


def test_roundtrip_and_nan_as_null(tmp_path):
    rec = make_records(1)[0]
    rec["metrics"]["smooth_ece"] = float("nan")
    p = write_record(tmp_path / "eval" / "ts.json", rec)
    raw = json.loads(p.read_text())
    assert raw["metrics"]["smooth_ece"] is None  # valid JSON, no NaN token
    back = read_record(p)
    assert math.isnan(back["metrics"]["smooth_ece"])
    assert back["metrics"]["ece"] == rec["metrics"]["ece"]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"experiment": "x"}', "missing field"),
    ],
)
def test_corrupt_record_names_file(tmp_path, content, why):
    p = tmp_path / "eval" / "ts.json"
    p.parent.mkdir()
    p.write_text(content)
    with pytest.raises(CorruptRecordError) as ei:
        read_record(p)
    assert str(p) in str(ei.value) and why in str(ei.value)
    assert "--redo-corrupt" in str(ei.value)


def test_missing_metric_value_type(tmp_path):
    rec = make_records(1)[0]
    p = write_record(tmp_path / "eval" / "none.json", rec)
    raw = json.loads(p.read_text())
    raw["metrics"]["ece"] = "high"
    p.write_text(json.dumps(raw))
    with pytest.raises(CorruptRecordError, match="metric 'ece' is not a number"):
        read_record(p)


def test_results_csv_one_row_per_run_and_calibrator(tmp_path):
    recs = make_records(2)
    exp = write_experiment(tmp_path, recs)
    path = write_results_csv(exp)
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(recs) == 3 * 2 * 3
    keys = {(r["loss"], r["seed"], r["calibrator"]) for r in rows}
    assert len(keys) == len(rows)
    by_key = {(r["loss"], r["seed"], r["calibrator"]): r for r in recs}
    for row in rows:
        ref = by_key[(row["loss"], int(row["seed"]), row["calibrator"])]
        for m, v in ref["metrics"].items():
            assert float(row[m]) == v  # repr round-trips floats exactly
    back = read_results_csv(path)
    assert len(back) == len(rows)


def test_collect_reports_all_corrupt_files(tmp_path):
    exp = write_experiment(tmp_path, make_records(2))
    bad1 = record_path(exp / "digits__mlp__ce__s0", "ts")
    bad2 = record_path(exp / "digits__mlp__gce__s1", "ats")
    bad1.write_text("{")
    raw = json.loads(bad2.read_text())
    del raw["metrics"]
    bad2.write_text(json.dumps(raw))
    before = (bad1.read_bytes(), bad2.read_bytes())
    with pytest.raises(CorruptRecordError) as ei:
        collect_records(exp)
    assert set(ei.value.problems) == {bad1, bad2}
    assert (bad1.read_bytes(), bad2.read_bytes()) == before  # not overwritten
    assert not (exp / "results.csv").exists()
