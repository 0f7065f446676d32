"""Evaluation records: one JSON file per (run, calibrator), read back strictly.

A record lives at ``<run_dir>/eval/<calibrator>.json`` and holds

- identifiers: ``experiment data model loss seed calibrator run`` (``run`` is the run folder
  name, ``<data>__<model>__<loss>__s<seed>-<digest>``),
- ``metrics``: the flat ``calibration_report`` of the calibrated test predictions
  (metric name -> float; ``"<metric>@<group>"`` for long-tailed runs),
- ``calibrator_state``: the calibrator's JSON state (``Calibrator.state_dict_json()``),
- ``fit_time_s`` (seconds to fit the calibrator), ``n_cal``, ``n_test``, ``num_classes``,
  ``code_version`` and ``schema`` (the record format version, currently 1).

Records are written atomically (``gencal.io.atomic_write_json``), so a reader never sees half a
file. A record that cannot be parsed or lacks a field raises :class:`CorruptRecordError`, whose
message names the file and says how to fix it: it is never skipped silently or overwritten
unless the caller asks for that explicitly (``redo_corrupt=True`` / ``--redo-corrupt``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gencal._checks import GencalInputError
from gencal.io import atomic_write_json

__all__ = [
    "ID_FIELDS",
    "RECORD_SCHEMA",
    "REQUIRED_FIELDS",
    "CorruptRecordError",
    "find_records",
    "read_record",
    "record_path",
    "write_record",
]

RECORD_SCHEMA = 1
#: Fields that identify a record (one row of ``results.csv`` per distinct tuple).
ID_FIELDS: tuple[str, ...] = ("experiment", "data", "model", "loss", "seed", "calibrator", "run")
#: Every field a valid record must have.
REQUIRED_FIELDS: tuple[str, ...] = (
    *ID_FIELDS,
    "schema",
    "metrics",
    "calibrator_state",
    "fit_time_s",
    "n_cal",
    "n_test",
    "num_classes",
)


class CorruptRecordError(GencalInputError):
    """A results record exists but cannot be used (bad JSON, missing or ill-typed fields).

    Args:
        problems: record file -> what is wrong with it.

    Example:
        >>> err = CorruptRecordError({Path("eval/ts.json"): "invalid JSON"})
        >>> print(str(err).splitlines()[1].strip())
        eval/ts.json: invalid JSON
        >>> list(err.problems.values()), isinstance(err, ValueError)
        (['invalid JSON'], True)
    """

    def __init__(self, problems: Mapping[Path, str]):
        self.problems = dict(problems)
        lines = [f"  {p}: {why}" for p, why in self.problems.items()]
        n = len(self.problems)
        super().__init__(
            f"{n} corrupt results record{'s' if n != 1 else ''}:\n"
            + "\n".join(lines)
            + "\nDelete the file(s) or rerun with --redo-corrupt (redo_corrupt=True) to "
            "re-evaluate them (the bad file is kept beside as <name>.corrupt)."
        )


def record_path(run_dir: str | os.PathLike[str], calibrator: str) -> Path:
    """``<run_dir>/eval/<calibrator>.json``.

    Example:
        >>> record_path("runs/demo/digits__mlp__ce__s0", "ts").as_posix()
        'runs/demo/digits__mlp__ce__s0/eval/ts.json'
    """
    return Path(run_dir) / "eval" / f"{calibrator}.json"


def _problem(rec: Any) -> str | None:
    """Return why ``rec`` is not a valid record, or None if it is."""
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {type(rec).__name__}"
    missing = [f for f in REQUIRED_FIELDS if f not in rec]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    for f in ("experiment", "data", "model", "loss", "calibrator", "run"):
        if not isinstance(rec[f], str) or not rec[f]:
            return f"field {f!r} must be a non-empty string, got {rec[f]!r}"
    if not isinstance(rec["seed"], int) or isinstance(rec["seed"], bool):
        return f"field 'seed' must be an integer, got {rec['seed']!r}"
    if rec["schema"] != RECORD_SCHEMA:
        return f"unknown record schema {rec['schema']!r} (this gencal reads {RECORD_SCHEMA})"
    m = rec["metrics"]
    if not isinstance(m, dict) or not m:
        return "field 'metrics' must be a non-empty object of metric name -> number"
    for k, v in m.items():
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool)):
            return f"metric {k!r} is not a number ({v!r})"
    if not isinstance(rec["calibrator_state"], dict):
        return "field 'calibrator_state' must be a JSON object"
    return None


def read_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate one record.

    Args:
        path: the record file.

    Returns:
        The record, ``null`` metrics read as NaN.

    Raises:
        CorruptRecordError: the file is not UTF-8, not JSON, or not a valid record (named).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "ts.json"
        >>> _ = path.write_text('{"experiment": "e", ')  # a truncated file
        >>> try:
        ...     read_record(path)
        ... except CorruptRecordError as err:
        ...     print(err.problems[path])
        invalid JSON (Expecting property name enclosed in double quotes at line 1)
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptRecordError({path: f"not UTF-8 text ({exc.reason})"}) from None
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptRecordError({path: f"invalid JSON ({exc.msg} at line {exc.lineno})"}) from None
    why = _problem(rec)
    if why is not None:
        raise CorruptRecordError({path: why})
    # JSON has no NaN by standard; we store missing/NaN metrics as null -> nan on read.
    rec["metrics"] = {k: (math.nan if v is None else float(v)) for k, v in rec["metrics"].items()}
    return rec


def _json_safe(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if hasattr(x, "item") and callable(x.item):  # numpy / torch scalars
        return _json_safe(x.item())
    return x


def write_record(path: str | os.PathLike[str], record: Mapping[str, Any]) -> Path:
    """Validate and atomically write a record (non-finite metrics are stored as ``null``).

    Args:
        path: the record file (its folder is created).
        record: the record; ``schema`` is added when missing.

    Returns:
        The path written.

    Raises:
        ValueError: the record lacks a field or has one of the wrong type.

    Example:
        >>> import tempfile
        >>> rec = {"experiment": "e", "data": "d", "model": "m", "loss": "ce", "seed": 0,
        ...        "calibrator": "ts", "run": "d__m__ce__s0", "calibrator_state": {},
        ...        "fit_time_s": 0.1, "n_cal": 10, "n_test": 10, "num_classes": 3,
        ...        "metrics": {"ece": float("nan")}}
        >>> p = write_record(Path(tempfile.mkdtemp()) / "eval" / "ts.json", rec)
        >>> read_record(p)["metrics"]
        {'ece': nan}
    """
    rec = _json_safe(dict(record))
    rec.setdefault("schema", RECORD_SCHEMA)
    why = _problem(rec)
    if why is not None:
        raise ValueError(f"refusing to write an invalid record to {path}: {why}")
    return atomic_write_json(path, rec)


def find_records(run_dirs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """All ``eval/*.json`` files of the given run folders, sorted within each folder.

    Args:
        run_dirs: run folders.

    Returns:
        The record paths.

    Example:
        >>> import tempfile
        >>> run = Path(tempfile.mkdtemp())
        >>> (run / "eval").mkdir()
        >>> for name in ("ts.json", "none.json", "ts.json.corrupt"):
        ...     (run / "eval" / name).touch()
        >>> [p.name for p in find_records([run])]
        ['none.json', 'ts.json']
    """
    out: list[Path] = []
    for rd in run_dirs:
        out.extend(sorted((Path(rd) / "eval").glob("*.json")))
    return out
