"""Evaluate finished runs with every calibrator and store one record per (run, calibrator).

For a run folder holding ``logits.npz`` (written by :func:`gencal.train.train_run`) and each
calibrator name: the calibrator is fitted on the calibration split's logits and labels
(``cal_logits``, ``cal_labels``), the test logits are turned into calibrated probabilities with
``predict_proba`` and scored with :func:`gencal.metrics.calibration_report` (15 bins; class
groups added for long-tailed runs; ECE with 20 bins as ``ece_20b``; AURC) — see
:func:`score_test_predictions`. The record (see :mod:`gencal.bench.records`) is written atomically to
``<run_dir>/eval/<calibrator>.json``.

Existing valid records are never recomputed, unless they are stale: each record stores the
SHA-256 of the ``logits.npz`` it was computed from (``logits_sha256``), and a record of a run
that was retrained since (different logits), or whose calibrator name/hyper-parameters differ
from the requested ones, is recomputed and overwritten. Existing corrupt records are reported (every one
of them, after the remaining work is done) by raising :class:`CorruptRecordError`; with
``redo_corrupt=True`` the bad file is renamed to ``<name>.json.corrupt`` and re-evaluated.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import numbers
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gencal._checks import GencalInputError
from gencal.bench.records import (
    RECORD_SCHEMA,
    CorruptRecordError,
    read_record,
    record_path,
    write_record,
)

__all__ = [
    "CalibratorSpec",
    "EvalSummary",
    "evaluate_run",
    "evaluate_runs",
    "fitted_scalars",
    "parse_calibrators",
    "run_identity",
]

#: The calibrators of the benchmark when the config names none.
DEFAULT_CALIBRATORS: tuple[str, ...] = ("none", "ts", "ats")


@dataclass(frozen=True)
class CalibratorSpec:
    """A calibrator to evaluate: its label, its registry name and its hyper-parameters.

    ``name`` labels the record (``eval/<name>.json``) and the report's rows;
    ``registry_name`` and ``hparams`` (sorted ``(key, value)`` pairs) build it with
    :func:`gencal.calibration.get_calibrator`. :func:`parse_calibrators` reads them from a
    config.

    Example:
        >>> from gencal.calibration import get_calibrator
        >>> spec = CalibratorSpec("ts_bal", "ts", (("balanced", True),))
        >>> get_calibrator(spec.registry_name, **dict(spec.hparams)).balanced
        True
    """

    name: str
    registry_name: str
    hparams: tuple[tuple[str, Any], ...] = ()


def parse_calibrators(spec: Iterable[Any] | None) -> list[CalibratorSpec]:
    """Read the ``calibrators`` list of a config into :class:`CalibratorSpec` entries.

    Entries are registry names (``"ts"``), mappings with a ``name`` (and optional ``label``)
    plus hyper-parameters, or one-key mappings ``{label: {name: ..., ...}}``; a string is split
    on commas. None gives the default ``none ts ats``.

    Args:
        spec: the list (or comma-separated string).

    Returns:
        One spec per entry; labels (record file names) are unique.

    Raises:
        GencalInputError: an entry cannot be read, a label repeats, or the list is empty.

    Example:
        >>> [(c.name, c.registry_name, c.hparams)
        ...  for c in parse_calibrators(["ts", {"ats8": {"name": "ats", "n_pieces": 8}}])]
        [('ts', 'ts', ()), ('ats8', 'ats', (('n_pieces', 8),))]
    """
    if spec is None:
        spec = DEFAULT_CALIBRATORS
    if isinstance(spec, str):
        spec = [s.strip() for s in spec.split(",") if s.strip()]
    out: list[CalibratorSpec] = []
    for item in spec:
        if isinstance(item, str):
            out.append(CalibratorSpec(item, item))
            continue
        if isinstance(item, Mapping):
            d = dict(item)
            if "name" in d:
                name = str(d.pop("name"))
                label = str(d.pop("label", name))
                out.append(CalibratorSpec(label, name, tuple(sorted(d.items()))))
                continue
            if len(d) == 1:
                ((label, hp),) = d.items()
                hp = dict(hp or {})
                name = str(hp.pop("name", label))
                out.append(CalibratorSpec(str(label), name, tuple(sorted(hp.items()))))
                continue
        raise GencalInputError(
            f"calibrators: cannot read entry {item!r}; use a name such as 'ts' or a mapping "
            "{'name': 'ats', ...hyper-parameters}"
        )
    labels = [c.name for c in out]
    if len(set(labels)) != len(labels):
        raise GencalInputError(f"calibrators: duplicate names in {labels}")
    if not out:
        raise GencalInputError("calibrators: the list is empty")
    return out


def _get(cfg: Any, dotted: str, default: Any = None) -> Any:
    cur = cfg
    for part in dotted.split("."):
        if cur is None:
            return default
        if isinstance(cur, Mapping):
            cur = cur.get(part)
        else:
            cur = getattr(cur, part, None)
    return default if cur is None else cur


def run_identity(run_dir: Path, meta: Mapping[str, Any]) -> dict[str, Any]:
    """experiment/data/model/loss/seed of a run.

    The folder name ``<data>__<model>__<loss>__s<seed>-<digest>`` written by gencal.train
    (or ``<data>__<model>__<loss>__s<seed>[__<key>=<value>...]`` in older run folders) is the
    source of truth for data, model and loss when it parses: it tells long-tailed data apart
    (``digits-lt10``); the extra grid keys of old folders are appended to the loss label
    (``focal[loss.gamma=1]``) so that different settings never pool as seeds. Otherwise (a
    custom ``run_name``) the run's config gives the names. The report tells configurations
    apart by their saved config (:mod:`gencal.bench.cells`), not by these names.

    Example:
        >>> from pathlib import Path
        >>> run_identity(Path("runs/demo/digits__mlp__gce__s2-0a1b2c3d"), {})["seed"]
        2
    """
    cfg = meta.get("config") or {}
    parts = run_dir.name.split("__")
    fb: dict[str, Any] = {}
    seed_part = parts[3].split("-", 1)[0] if len(parts) >= 4 else ""
    if seed_part.startswith("s") and seed_part[1:].isdigit():
        loss = parts[2] + (f"[{','.join(parts[4:])}]" if len(parts) > 4 else "")
        fb = {"data": parts[0], "model": parts[1], "loss": loss, "seed": int(seed_part[1:])}
    ident = {
        "experiment": _get(cfg, "experiment") or run_dir.parent.name,
        "data": fb.get("data") or _get(cfg, "data.name"),
        "model": fb.get("model") or _get(cfg, "model.name"),
        "loss": fb.get("loss") or _get(cfg, "loss.name"),
        "seed": _get(cfg, "seed", fb.get("seed")),
        "run": run_dir.name,
    }
    if isinstance(ident["experiment"], Mapping):  # experiment given as a config group
        ident["experiment"] = ident["experiment"].get("name") or run_dir.parent.name
    missing = [k for k, v in ident.items() if v is None]
    if missing:
        raise GencalInputError(
            f"run {run_dir}: cannot tell its {', '.join(missing)} from meta['config'] or the "
            "folder name (<data>__<model>__<loss>__s<seed>)"
        )
    ident["seed"] = int(ident["seed"])
    for k in ("experiment", "data", "model", "loss"):
        ident[k] = str(ident[k])
    return ident


def score_test_predictions(
    cal: Any, test_logits: np.ndarray, test_labels: np.ndarray, meta: Any, n_bins: int = 15
) -> dict[str, float]:
    """The metrics of a fitted calibrator's test predictions, as stored in a record.

    ``calibration_report`` on the calibrated logits ``cal.transform(test_logits)`` (exact NLL)
    when they are finite, else on ``cal.predict_proba(test_logits)`` (isotonic/histogram give
    ``log(0)``); with ``extra_ece_bins=(20,)`` (``ece_20b``, the paper's binning), class groups
    from ``meta["groups"]`` for long-tailed runs, plus ``aurc`` (and ``smooth_ece`` when
    gencal.metrics provides it) on the calibrated probabilities.

    Args:
        cal: a fitted calibrator.
        test_logits: the test split's logits.
        test_labels: its labels.
        meta: the run's meta (its ``groups`` give the class groups of long-tailed runs).
        n_bins: equal-width bins of ECE.

    Shape:
        test_logits: ``[N, K]``; test_labels: ``[N]``.

    Returns:
        Metric name -> float (fractions, not %).

    Example:
        >>> from gencal.calibration import get_calibrator
        >>> z = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 1.0]])
        >>> y = np.array([0, 1, 1, 1])
        >>> m = score_test_predictions(get_calibrator("none").fit(z, y), z, y, meta={})
        >>> round(m["accuracy"], 4), round(m["ece"], 4), round(m["nll"], 4)
        (0.75, 0.2278, 0.6735)
        >>> {"ece_20b", "aurc", "brier"} <= set(m)
        True
    """
    from gencal import metrics as M

    z = np.asarray(cal.transform(test_logits), dtype=np.float64)
    probs = np.asarray(cal.predict_proba(test_logits), dtype=np.float64)
    kw: dict[str, Any] = {"n_bins": n_bins, "extra_ece_bins": (20,)}
    groups = meta.get("groups") if isinstance(meta, Mapping) else None
    if groups:
        kw["groups"] = groups
    if np.isfinite(z).all():
        rec = dict(M.calibration_report(z, test_labels, **kw))
    else:
        rec = dict(M.calibration_report(probs, test_labels, inputs="probs", **kw))
    if "aurc" not in rec and hasattr(M, "aurc"):
        rec["aurc"] = float(M.aurc(probs, test_labels))
    if "smooth_ece" not in rec and hasattr(M, "smooth_ece"):
        rec["smooth_ece"] = float(M.smooth_ece(probs, test_labels))
    return {k: float(v) for k, v in rec.items()}


def fitted_scalars(cal: Any) -> dict[str, float]:
    """The fitted scalar attributes of a calibrator: public names ending in ``_``.

    What a calibrator chose when fitted (a temperature, a number of pieces, a shrinkage) is
    shown in the report per row; arrays and the class count are left out.

    Args:
        cal: a fitted calibrator (any object with attributes).

    Returns:
        ``{attribute name: float}`` in attribute order.

    Example:
        >>> class Fitted:
        ...     def __init__(self):
        ...         self.temperature_, self.n_pieces_, self.edges_ = 1.5, 3, [0.0, 1.0]
        >>> fitted_scalars(Fitted())
        {'temperature_': 1.5, 'n_pieces_': 3.0}
    """
    out: dict[str, float] = {}
    for k, v in vars(cal).items():
        if not k.endswith("_") or k.startswith("_") or k in _NOT_CHOICES:
            continue
        if isinstance(v, bool) or not (isinstance(v, numbers.Real) or np.ndim(v) == 0):
            continue
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            continue
    return out


#: Fitted attributes that describe the data, not a choice of the calibrator.
_NOT_CHOICES = frozenset({"num_classes_", "n_features_in_", "classes_"})


def _evaluate_one(
    run: Any, spec: CalibratorSpec, ident: Mapping[str, Any], n_bins: int
) -> dict[str, Any]:
    from gencal.calibration import get_calibrator

    hparams = dict(spec.hparams)
    counts = run.meta.get("train_class_counts") if isinstance(run.meta, Mapping) else None
    if counts is not None and "class_counts" not in hparams:
        # calibrators that take a class prior (e.g. "la") get the run's training-split counts
        if "class_counts" in inspect.signature(type(get_calibrator(spec.registry_name))).parameters:
            hparams["class_counts"] = [int(c) for c in counts]
    cal = get_calibrator(spec.registry_name, **hparams)
    cal_logits = np.asarray(run.cal_logits, dtype=np.float64)
    test_logits = np.asarray(run.test_logits, dtype=np.float64)
    cal_labels = np.asarray(run.cal_labels, dtype=np.int64)
    test_labels = np.asarray(run.test_labels, dtype=np.int64)
    t0 = time.perf_counter()
    cal.fit(cal_logits, cal_labels)
    fit_time = time.perf_counter() - t0
    metrics = score_test_predictions(cal, test_logits, test_labels, run.meta, n_bins)
    return {
        "schema": RECORD_SCHEMA,
        **ident,
        "calibrator": spec.name,
        "calibrator_name": spec.registry_name,
        "calibrator_hparams": dict(spec.hparams),
        "calibrator_state": cal.to_json(),
        "fitted": fitted_scalars(cal),
        "fit_time_s": fit_time,
        "n_cal": int(cal_labels.shape[0]),
        "n_test": int(test_labels.shape[0]),
        "num_classes": int(test_logits.shape[1]),
        "code_version": str(run.meta.get("code_version", "unknown")),
        "metrics": metrics,
    }


@dataclass
class EvalSummary:
    """What an evaluation pass did: records written, reused, stale and corrupt.

    ``written``, ``reused`` and ``stale`` (valid records of a retrained run or of changed
    calibrator settings, recomputed) list record paths; ``corrupt`` maps record path -> what is
    wrong; ``fit_calls`` counts the calibrators fitted. See :func:`evaluate_run`'s example.

    Example:
        >>> EvalSummary()
        EvalSummary(written=[], reused=[], corrupt={}, stale=[], fit_calls=0)
    """

    written: list[Path] = field(default_factory=list)
    reused: list[Path] = field(default_factory=list)
    corrupt: dict[Path, str] = field(default_factory=dict)
    stale: list[Path] = field(default_factory=list)  # valid records of retrained runs, redone
    fit_calls: int = 0


def _jsonable(x: Any) -> str:
    return json.dumps(x, sort_keys=True, default=str)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def evaluate_run(
    run_dir: str | os.PathLike[str],
    calibrators: Sequence[CalibratorSpec | str] | None = None,
    *,
    redo_corrupt: bool = False,
    n_bins: int = 15,
    summary: EvalSummary | None = None,
    on_step: Callable[[], None] | None = None,
) -> EvalSummary:
    """Evaluate one finished run with each calibrator (see the module docstring).

    Args:
        run_dir: a finished run folder (holding ``logits.npz``).
        calibrators: the calibrators (specs or names); default ``none ts ats``.
        redo_corrupt: rename a corrupt record to ``<name>.json.corrupt`` and recompute it.
        n_bins: equal-width bins of ECE.
        summary: an :class:`EvalSummary` to add to (then corrupt records are only collected).
        on_step: called after each calibrator (a progress bar's ``update``).

    Returns:
        What was written, reused, found stale or corrupt.

    Raises:
        GencalInputError: the run is not finished or its logits cannot be read.
        CorruptRecordError: corrupt records were found (after the rest is done), unless
            ``summary`` was given.

    Example:
        A finished run folder with synthetic logits (``gencal.train`` writes the same arrays):

        >>> import tempfile
        >>> from gencal.io import atomic_save_npz
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 3, 400)
        >>> z = 3.0 * (rng.normal(size=(400, 3)) + 2.0 * np.eye(3)[y])
        >>> rd = Path(tempfile.mkdtemp()) / "demo" / "toy__mlp__ce__s0-0a1b2c3d"
        >>> _ = atomic_save_npz(rd / "logits.npz", cal_logits=z[:200], cal_labels=y[:200],
        ...                     test_logits=z[200:], test_labels=y[200:], meta=np.array("{}"))
        >>> done = evaluate_run(rd, ["none", "ts"])
        >>> [p.name for p in done.written], done.fit_calls
        (['none.json', 'ts.json'], 2)
        >>> before = read_record(rd / "eval" / "none.json")["metrics"]["ece"]
        >>> after = read_record(rd / "eval" / "ts.json")["metrics"]["ece"]
        >>> after < before
        True
        >>> again = evaluate_run(rd, ["none", "ts"])  # valid records are reused
        >>> len(again.reused), again.fit_calls
        (2, 0)
    """
    from gencal.train import load_run

    rd = Path(run_dir)
    own = summary is None
    summary = summary if summary is not None else EvalSummary()
    specs = [
        c if isinstance(c, CalibratorSpec) else CalibratorSpec(c, c)
        for c in (calibrators if calibrators is not None else DEFAULT_CALIBRATORS)
    ]
    if not (rd / "logits.npz").is_file():
        raise GencalInputError(f"run {rd} is not finished: {rd / 'logits.npz'} is missing")
    run = None
    ident = None
    digest = _file_sha256(rd / "logits.npz")
    for spec in specs:
        path = record_path(rd, spec.name)
        if path.exists():
            try:
                old = read_record(path)
                same_logits = old.get("logits_sha256", digest) == digest
                same_cal = old.get(
                    "calibrator_name", spec.registry_name
                ) == spec.registry_name and (
                    _jsonable(old.get("calibrator_hparams", dict(spec.hparams)))
                    == _jsonable(dict(spec.hparams))
                )
                if same_logits and same_cal:
                    summary.reused.append(path)
                    if on_step:
                        on_step()
                    continue
                # valid but stale: the run was retrained, or the calibrator's settings changed
                summary.stale.append(path)
            except CorruptRecordError as exc:
                if not redo_corrupt:
                    summary.corrupt.update(exc.problems)
                    if on_step:
                        on_step()
                    continue
                os.replace(path, path.with_name(path.name + ".corrupt"))
        if run is None:
            try:
                run = load_run(rd)
            except GencalInputError:
                raise
            except Exception as exc:
                raise GencalInputError(f"cannot read the logits of run {rd}: {exc}") from exc
            ident = run_identity(rd, run.meta if isinstance(run.meta, Mapping) else {})
        try:
            record = _evaluate_one(run, spec, ident, n_bins)
        except GencalInputError as exc:
            raise GencalInputError(f"run {rd}, calibrator {spec.name!r}: {exc}") from exc
        record["logits_sha256"] = digest
        summary.fit_calls += 1
        write_record(path, record)
        summary.written.append(path)
        if on_step:
            on_step()
    if own and summary.corrupt:
        raise CorruptRecordError(summary.corrupt)
    return summary


def evaluate_runs(
    run_dirs: Iterable[str | os.PathLike[str]],
    calibrators: Sequence[CalibratorSpec | str] | None = None,
    *,
    redo_corrupt: bool = False,
    n_bins: int = 15,
    progress: bool = True,
) -> EvalSummary:
    """Evaluate many runs (:func:`evaluate_run`); all corrupt records are reported together.

    Args:
        run_dirs: finished run folders.
        calibrators: the calibrators; default ``none ts ats``.
        redo_corrupt: recompute corrupt records (the bad file is kept beside).
        n_bins: equal-width bins of ECE.
        progress: show a progress bar.

    Returns:
        What was written, reused, found stale or corrupt.

    Raises:
        CorruptRecordError: corrupt records were found (after the rest is done).

    Example:
        Two runs, one of them with a corrupt record: the other run is still evaluated, then
        the corrupt file is reported.

        >>> import tempfile
        >>> from gencal.io import atomic_save_npz
        >>> exp = Path(tempfile.mkdtemp()) / "demo"
        >>> rng = np.random.default_rng(0)
        >>> for seed in (0, 1):
        ...     y = rng.integers(0, 3, 100)
        ...     z = rng.normal(size=(100, 3)) + 2.0 * np.eye(3)[y]
        ...     _ = atomic_save_npz(exp / f"toy__mlp__ce__s{seed}" / "logits.npz",
        ...                         cal_logits=z[:50], cal_labels=y[:50], test_logits=z[50:],
        ...                         test_labels=y[50:], meta=np.array("{}"))
        >>> bad = record_path(exp / "toy__mlp__ce__s0", "ts")
        >>> bad.parent.mkdir(); _ = bad.write_text("{")
        >>> try:
        ...     evaluate_runs(sorted(exp.iterdir()), ["ts"], progress=False)
        ... except CorruptRecordError as err:
        ...     print([p.parent.parent.name for p in err.problems])
        ['toy__mlp__ce__s0']
        >>> record_path(exp / "toy__mlp__ce__s1", "ts").is_file()
        True
    """
    dirs = [Path(d) for d in run_dirs]
    specs = list(calibrators) if calibrators is not None else list(DEFAULT_CALIBRATORS)
    summary = EvalSummary()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(dirs) * len(specs), desc="evaluate", unit="fit", leave=False)
    try:
        for rd in dirs:
            evaluate_run(
                rd,
                specs,
                redo_corrupt=redo_corrupt,
                n_bins=n_bins,
                summary=summary,
                on_step=bar.update if bar is not None else None,
            )
    finally:
        if bar is not None:
            bar.close()
    if summary.corrupt:
        raise CorruptRecordError(summary.corrupt)
    return summary
