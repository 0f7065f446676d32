"""Aggregate the records of an experiment into one table, ``<experiment_dir>/results.csv``.

One row per (run, calibrator): the identifier columns (``experiment data model loss seed
calibrator run``), then ``fit_time_s n_cal n_test num_classes``, then every metric found in any
record (sorted by name; empty where a record lacks it). Written atomically.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any

from gencal._checks import GencalInputError
from gencal.bench.records import ID_FIELDS, CorruptRecordError, read_record
from gencal.io import atomic_write_text

__all__ = [
    "EXTRA_FIELDS",
    "collect_records",
    "find_run_dirs",
    "read_results_csv",
    "write_results_csv",
]

EXTRA_FIELDS: tuple[str, ...] = ("fit_time_s", "n_cal", "n_test", "num_classes")


def find_run_dirs(experiment_dir: str | os.PathLike[str]) -> list[Path]:
    """Run folders of an experiment: direct sub-folders holding ``logits.npz`` or ``eval/``.

    Args:
        experiment_dir: ``<output_root>/<experiment>``.

    Returns:
        The run folders, sorted by name.

    Raises:
        GencalInputError: the folder does not exist.

    Example:
        >>> import tempfile
        >>> exp = Path(tempfile.mkdtemp())
        >>> (exp / "digits__mlp__ce__s0" / "eval").mkdir(parents=True)
        >>> (exp / "report").mkdir()
        >>> [d.name for d in find_run_dirs(exp)]
        ['digits__mlp__ce__s0']
    """
    exp = Path(experiment_dir)
    if not exp.is_dir():
        raise GencalInputError(f"experiment folder {exp} does not exist")
    return sorted(
        d
        for d in exp.iterdir()
        if d.is_dir() and ((d / "logits.npz").is_file() or (d / "eval").is_dir())
    )


def collect_records(experiment_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read every record of an experiment. All corrupt records are reported together.

    Args:
        experiment_dir: ``<output_root>/<experiment>``.

    Returns:
        The records sorted by data, model, loss, seed and calibrator.

    Raises:
        CorruptRecordError: one or more records cannot be read (every bad file is named).

    Each record without a ``config`` field gets its run's saved config there (``config.yaml``
    or the meta of ``logits.npz``; see :func:`gencal.bench.cells.load_run_config`), None when
    there is none: the report groups runs into rows by it.

    Example:
        Two records of one run, written as :func:`gencal.bench.evaluate_run` writes them:

        >>> import tempfile
        >>> from gencal.bench.records import record_path, write_record
        >>> exp = Path(tempfile.mkdtemp()) / "demo"
        >>> for cal, ece in (("ts", 0.02), ("none", 0.08)):
        ...     rec = {"experiment": "demo", "data": "digits", "model": "mlp", "loss": "ce",
        ...            "seed": 0, "calibrator": cal, "run": "digits__mlp__ce__s0",
        ...            "calibrator_state": {}, "fit_time_s": 0.0, "n_cal": 100, "n_test": 100,
        ...            "num_classes": 10, "metrics": {"ece": ece}}
        ...     _ = write_record(record_path(exp / rec["run"], cal), rec)
        >>> [(r["calibrator"], r["metrics"]["ece"], r["config"]) for r in collect_records(exp)]
        [('none', 0.08, None), ('ts', 0.02, None)]
    """
    from gencal.bench.cells import load_run_config

    records: list[dict[str, Any]] = []
    problems: dict[Path, str] = {}
    for rd in find_run_dirs(experiment_dir):
        config = None
        for i, p in enumerate(sorted((rd / "eval").glob("*.json"))):
            if i == 0:
                config = load_run_config(rd)
            try:
                rec = read_record(p)
                rec.setdefault("config", config)
                records.append(rec)
            except CorruptRecordError as exc:
                problems.update(exc.problems)
    if problems:
        raise CorruptRecordError(problems)
    records.sort(key=lambda r: (r["data"], r["model"], r["loss"], r["seed"], r["calibrator"]))
    return records


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return str(v)


def records_to_csv(records: list[dict[str, Any]]) -> str:
    """The CSV text of ``results.csv`` for these records (see the module docstring).

    Example:
        >>> rec = {"experiment": "e", "data": "d", "model": "m", "loss": "ce", "seed": 0,
        ...        "calibrator": "ts", "run": "d__m__ce__s0", "metrics": {"ece": 0.5}}
        >>> print(records_to_csv([rec]), end="")
        experiment,data,model,loss,seed,calibrator,run,fit_time_s,n_cal,n_test,num_classes,ece
        e,d,m,ce,0,ts,d__m__ce__s0,,,,,0.5
    """
    metric_names = sorted({k for r in records for k in r["metrics"]})
    header = [*ID_FIELDS, *EXTRA_FIELDS, *metric_names]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in records:
        row = [r[f] for f in ID_FIELDS] + [r.get(f) for f in EXTRA_FIELDS]
        row += [r["metrics"].get(m) for m in metric_names]
        w.writerow([_fmt(v) for v in row])
    return buf.getvalue()


def write_results_csv(
    experiment_dir: str | os.PathLike[str], records: list[dict[str, Any]] | None = None
) -> Path:
    """Write ``<experiment_dir>/results.csv`` atomically and return its path.

    Args:
        experiment_dir: ``<output_root>/<experiment>``.
        records: the records to write; default :func:`collect_records` of the folder.

    Returns:
        The path of ``results.csv``.

    Example:
        >>> import tempfile
        >>> rec = {"experiment": "e", "data": "d", "model": "m", "loss": "ce", "seed": 0,
        ...        "calibrator": "ts", "run": "d__m__ce__s0", "metrics": {"ece": 0.5}}
        >>> path = write_results_csv(tempfile.mkdtemp(), [rec])
        >>> path.name, path.read_text().splitlines()[1]
        ('results.csv', 'e,d,m,ce,0,ts,d__m__ce__s0,,,,,0.5')
    """
    if records is None:
        records = collect_records(experiment_dir)
    return atomic_write_text(Path(experiment_dir) / "results.csv", records_to_csv(records))


def read_results_csv(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read ``results.csv`` back into record-like dicts (metrics as floats, NaN where empty).

    Args:
        path: a ``results.csv`` written by :func:`write_results_csv`.

    Returns:
        One dict per row: the identifier fields, ``fit_time_s n_cal n_test num_classes`` as
        floats and ``metrics`` (name -> float).

    Example:
        >>> import tempfile
        >>> recs = [{"experiment": "e", "data": "d", "model": "m", "loss": "ce", "seed": 0,
        ...          "calibrator": c, "run": "d__m__ce__s0", "n_cal": 100, "metrics": m}
        ...         for c, m in (("none", {"ece": 0.08, "nll": 0.3}), ("ts", {"ece": 0.02}))]
        >>> rows = read_results_csv(write_results_csv(tempfile.mkdtemp(), recs))
        >>> [(r["calibrator"], r["seed"], r["n_cal"], r["metrics"]) for r in rows]
        [('none', 0, 100.0, {'ece': 0.08, 'nll': 0.3}), ('ts', 0, 100.0, {'ece': 0.02, 'nll': nan})]
    """
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for row in rows:
        rec: dict[str, Any] = {f: row[f] for f in ID_FIELDS}
        rec["seed"] = int(rec["seed"])
        for f in EXTRA_FIELDS:
            rec[f] = float(row[f]) if row.get(f) else math.nan
        rec["metrics"] = {
            k: (float(v) if v != "" else math.nan)
            for k, v in row.items()
            if k not in ID_FIELDS and k not in EXTRA_FIELDS
        }
        out.append(rec)
    return out
