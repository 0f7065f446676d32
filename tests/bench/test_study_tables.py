"""benchmarks/study_tables.py prints the report's own numbers."""

from __future__ import annotations

import csv

from gencal.bench.report import build_report
from tests.bench.conftest import make_records, write_experiment
from tests.benchmark_scripts import load_benchmark

study_tables = load_benchmark("study_tables")


def test_study_tables_print_the_summary_and_tests(tmp_path, capsys):
    exp = write_experiment(tmp_path, make_records(3))
    build_report(exp, figures=False)
    study_tables.main([str(exp), "--calibrators", "none,ts"])
    out = capsys.readouterr().out
    with open(exp / "report" / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    ece = next(r for r in rows if (r["loss"], r["calibrator"], r["metric"]) == ("gce", "ts", "ece"))
    line = next(x for x in out.splitlines() if x.startswith("| gce |") and "after" not in x)
    assert f"{100 * float(ece['mean']):.2f} ± {100 * float(ece['std']):.2f}" in out
    assert line.count("|") == 10  # loss + 8 metrics
    assert "| gce+ts | ce+ts | 3 |" in out
    assert "per class group" not in out  # no class groups: no empty group table


def test_study_tables_show_the_group_table_of_a_long_tailed_study(tmp_path, capsys):
    exp = write_experiment(tmp_path, make_records(3, groups=True))
    build_report(exp, figures=False)
    study_tables.main([str(exp), "--calibrators", "none"])
    out = capsys.readouterr().out
    assert "#### per class group" in out
    assert next(x for x in out.splitlines() if x.startswith("| gce | none |")).count("–") == 0
