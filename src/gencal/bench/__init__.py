"""The loss x calibrator x seed benchmark: evaluation records, aggregation and reports.

- :func:`evaluate_runs` / :func:`evaluate_run` — fit every calibrator on each finished run's
  calibration logits, score the test logits, write ``<run>/eval/<calibrator>.json``.
- :func:`collect_records` / :func:`write_results_csv` — all records of an experiment ->
  ``results.csv``.
- :func:`build_report` — Markdown/CSV/LaTeX tables, paired tests, figures, ``index.html``.
- :func:`run_bench` — the grid (``gencal.train.run_sweep``) + all of the above.
"""

from gencal.bench.aggregate import collect_records, find_run_dirs, write_results_csv
from gencal.bench.evaluate import evaluate_run, evaluate_runs, parse_calibrators
from gencal.bench.records import CorruptRecordError, read_record, record_path, write_record
from gencal.bench.report import build_report, format_summary
from gencal.bench.runner import compose_config, run_bench
from gencal.bench.stats import paired_tests, summarise

__all__ = [
    "CorruptRecordError",
    "build_report",
    "collect_records",
    "compose_config",
    "evaluate_run",
    "evaluate_runs",
    "find_run_dirs",
    "format_summary",
    "paired_tests",
    "parse_calibrators",
    "read_record",
    "record_path",
    "run_bench",
    "summarise",
    "write_record",
    "write_results_csv",
]
