"""``gencal calibrate``: fit a calibrator on a saved logits file, write probabilities and state.

Accepted inputs (all checked before anything is written):

- ``.npz`` with ``logits`` and ``labels`` — fit on them, output their calibrated probabilities;
- ``.npz`` with ``cal_logits`` and ``cal_labels`` (+ optional ``test_logits`` and
  ``test_labels``, e.g. a gencal run's ``logits.npz``) — fit on the calibration arrays, output
  the calibrated probabilities of ``test_logits`` (and of ``cal_logits`` as ``cal_probs``);
- ``.npy`` logits with ``labels=<file.npy>`` (and optional ``test_logits=<file.npy>``);
- ``.pt`` / ``.pth`` holding such a dict of tensors (loaded with ``weights_only=True``) or a
  logits tensor with a separate labels file.

Outputs (atomic): ``<out>.npz`` with ``probs`` (float64 ``[N, K]``; ``cal_probs`` too in the
cal/test form) and ``<out>.json`` with the calibrator's JSON state, loadable with
``gencal.calibration.load_calibrator``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from gencal._checks import GencalInputError, check_labels, check_logits

__all__ = ["CalibrationInput", "calibrate_file", "load_logits_file"]


@dataclass
class CalibrationInput:
    """The checked arrays of a ``gencal calibrate`` input.

    ``fit_logits`` (float64 ``[N, K]``) and ``fit_labels`` (int64 ``[N]``) fit the calibrator;
    ``test_logits`` (float64 ``[M, K]``) and ``test_labels`` (int64 ``[M]``) are ``None``
    when the file has no test split; ``source`` is the input file's path.

    Example:
        >>> inp = CalibrationInput(np.zeros((4, 3)), np.array([0, 1, 2, 0]), None, None, "x.npz")
        >>> inp.fit_logits.shape, inp.test_logits is None
        ((4, 3), True)
    """

    fit_logits: np.ndarray
    fit_labels: np.ndarray
    test_logits: np.ndarray | None
    test_labels: np.ndarray | None
    source: str


def _load_array_file(path: Path, what: str) -> Any:
    if not path.exists():
        raise GencalInputError(f"{what}: file {path} does not exist")
    if path.is_dir():
        raise GencalInputError(f"{what}: {path} is a folder, not a file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix in (".pt", ".pth"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                obj = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(obj, torch.Tensor):
                return obj.detach().numpy()
            if isinstance(obj, Mapping):
                return {
                    str(k): (v.detach().numpy() if isinstance(v, torch.Tensor) else np.asarray(v))
                    for k, v in obj.items()
                }
            raise GencalInputError(
                f"{what}: {path} holds a {type(obj).__name__}; expected a tensor or a dict of tensors"
            )
    except GencalInputError:
        raise
    except Exception as exc:  # any failure to read a user's file is reported, not raised
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        hint = ""
        if suffix in (".pt", ".pth"):
            hint = "; .pt files are loaded with weights_only=True: save plain tensors"
        raise GencalInputError(
            f"{what}: cannot read {path} ({type(exc).__name__}: {first}){hint}"
        ) from None
    raise GencalInputError(
        f"{what}: unsupported file type {suffix!r} for {path}; use .npz, .npy or .pt"
    )


def _as_array(x: Any, key: str, path: Path) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == object:
        raise GencalInputError(f"{path}: array {key!r} has dtype object; save plain numbers")
    return a


def load_logits_file(
    path: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None = None,
    test_logits: str | os.PathLike[str] | None = None,
) -> CalibrationInput:
    """Read and validate the input of ``gencal calibrate`` (see the module docstring).

    Args:
        path: the logits file (``.npz``, ``.npy``, ``.pt`` or ``.pth``).
        labels: a separate labels file, for a file that holds logits alone.
        test_logits: a separate test-logits file.

    Returns:
        The fit (and test) arrays, checked: finite floating-point logits with at least two
        classes, integer labels in ``[0, K)`` of matching length.

    Raises:
        GencalInputError: a file is missing or unreadable, an array is missing, or the arrays
            are invalid; the message names the file and the array.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> np.savez(folder / "run.npz", cal_logits=np.zeros((4, 3), np.float32),
        ...          cal_labels=[0, 1, 2, 0], test_logits=np.ones((2, 3), np.float32))
        >>> inp = load_logits_file(folder / "run.npz")
        >>> inp.fit_logits.shape, inp.fit_labels.dtype, inp.test_logits.shape, inp.test_labels
        ((4, 3), dtype('int64'), (2, 3), None)
        >>> np.savez(folder / "bad.npz", logits=np.zeros((4, 3)), labels=[0, 1, 2, 3])
        >>> try:
        ...     load_logits_file(folder / "bad.npz")
        ... except GencalInputError as err:
        ...     print(str(err).split(": ", 1)[1])
        labels: label 3 is out of range for 3 classes (expected 0..2)
    """
    path = Path(path)
    obj = _load_array_file(path, "logits file")
    arrays: dict[str, np.ndarray]
    if isinstance(obj, dict):
        arrays = {k: _as_array(v, k, path) for k, v in obj.items()}
    else:
        arrays = {"logits": _as_array(obj, "logits", path)}
    if labels is not None:
        if "labels" in arrays or "cal_labels" in arrays:
            raise GencalInputError(f"{path} already holds labels; do not also pass labels=")
        arrays["labels"] = _as_array(
            _load_array_file(Path(labels), "labels file"), "labels", Path(labels)
        )
    if test_logits is not None:
        arrays["test_logits"] = _as_array(
            _load_array_file(Path(test_logits), "test logits file"),
            "test_logits",
            Path(test_logits),
        )
    if "cal_logits" in arrays or "cal_labels" in arrays:
        fit_keys = ("cal_logits", "cal_labels")
    else:
        fit_keys = ("logits", "labels")
    missing = [k for k in fit_keys if k not in arrays]
    if missing:
        have = ", ".join(sorted(arrays)) or "nothing"
        raise GencalInputError(
            f"{path}: missing array(s) {', '.join(missing)} (it holds: {have}). Save "
            "`logits` [N, K] and `labels` [N], or `cal_logits`/`cal_labels` (+ `test_logits`)"
            "; for a .npy logits file pass the labels with --labels FILE.npy"
        )
    fit_logits, fit_labels = arrays[fit_keys[0]], arrays[fit_keys[1]]
    tl = arrays.get("test_logits")
    ty = arrays.get("test_labels")
    _validate(fit_logits, fit_labels, fit_keys, path)
    k = fit_logits.shape[1]
    if tl is not None:
        _validate_logits(tl, "test_logits", path)
        if tl.shape[1] != k:
            raise GencalInputError(
                f"{path}: test_logits has {tl.shape[1]} classes but {fit_keys[0]} has {k}"
            )
        if ty is not None:
            _validate_labels(ty, "test_labels", k, tl.shape[0], path)
    elif ty is not None:
        raise GencalInputError(f"{path}: test_labels given without test_logits")
    return CalibrationInput(
        fit_logits.astype(np.float64),
        fit_labels.astype(np.int64),
        None if tl is None else tl.astype(np.float64),
        None if ty is None else ty.astype(np.int64),
        str(path),
    )


def _validate_logits(a: np.ndarray, key: str, path: Path) -> None:
    if not np.issubdtype(a.dtype, np.floating):
        raise GencalInputError(
            f"{path}: {key} must hold floating-point logits, got dtype {a.dtype}"
        )
    try:
        check_logits(torch.from_numpy(np.ascontiguousarray(a)), key)
    except GencalInputError as exc:
        raise GencalInputError(f"{path}: {exc}") from None
    if a.shape[0] < 1:
        raise GencalInputError(f"{path}: {key} is empty")
    if a.shape[1] < 2:
        raise GencalInputError(f"{path}: {key} needs at least 2 classes, got {a.shape[1]}")


def _validate_labels(y: np.ndarray, key: str, k: int, n: int, path: Path) -> None:
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise GencalInputError(
                f"{path}: {key} must be integer class indices (got non-integer floats)"
            )
        y = y.astype(np.int64)
    try:
        check_labels(torch.from_numpy(np.ascontiguousarray(y)), k, n, key)
    except GencalInputError as exc:
        raise GencalInputError(f"{path}: {exc}") from None


def _validate(logits: np.ndarray, labels: np.ndarray, keys: tuple[str, str], path: Path) -> None:
    _validate_logits(logits, keys[0], path)
    _validate_labels(labels, keys[1], logits.shape[1], logits.shape[0], path)


def calibrate_file(
    path: str | os.PathLike[str],
    method: str = "ats",
    out: str | os.PathLike[str] | None = None,
    *,
    labels: str | os.PathLike[str] | None = None,
    test_logits: str | os.PathLike[str] | None = None,
    hparams: Mapping[str, Any] | None = None,
    force: bool = False,
    inputs: Literal["logits", "probs"] | None = None,
) -> tuple[Path, Path]:
    """Fit ``method`` on the file's logits and write ``<out>.npz`` and ``<out>.json``.

    ``out`` defaults to ``<input folder>/<input stem>.<method>``. Nothing is written when the
    input is bad, the calibrator fails, or an output exists and ``force`` is false.
    ``inputs="probs"`` (``gencal calibrate --probs``, or ``hparams={"inputs": "probs"}``) says
    that the arrays are probabilities; the calibrator then fits on their log.

    Args:
        path: the input file (see :func:`load_logits_file`).
        method: a calibrator name of :func:`gencal.calibration.get_calibrator`.
        out: the output path without suffix.
        labels: a separate labels file.
        test_logits: a separate test-logits file.
        hparams: the calibrator's hyper-parameters.
        force: overwrite existing outputs.
        inputs: ``"logits"`` or ``"probs"``; ``None`` keeps the calibrator's default.

    Returns:
        The paths of ``<out>.npz`` and ``<out>.json``.

    Raises:
        GencalInputError: bad input, an unknown method, or an output exists (without
            ``force``).

    Example:
        >>> import json, tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 3, 300)
        >>> z = 3.0 * (rng.normal(size=(300, 3)) + 2.0 * np.eye(3)[y])  # overconfident
        >>> np.savez(folder / "val.npz", logits=z, labels=y)
        >>> npz, state = calibrate_file(folder / "val.npz", method="ts")
        >>> npz.name, state.name
        ('val.ts.npz', 'val.ts.json')
        >>> with np.load(npz) as out:
        ...     out["probs"].shape, bool(np.allclose(out["probs"].sum(1), 1.0))
        ((300, 3), True)
        >>> round(json.loads(state.read_text())["state"]["temperature"], 2)  # T > 1 softens
        1.62
    """
    from gencal.calibration import get_calibrator

    data = load_logits_file(path, labels, test_logits)
    p = Path(path)
    base = Path(out) if out is not None else p.with_name(f"{p.stem}.{method}")
    if base.suffix in (".npz", ".json"):
        base = base.with_suffix("")
    npz_path = base.with_name(base.name + ".npz")
    json_path = base.with_name(base.name + ".json")
    if not force:
        exists = [str(q) for q in (npz_path, json_path) if q.exists()]
        if exists:
            raise GencalInputError(
                f"output exists: {', '.join(exists)}; pass --force to overwrite or --out elsewhere"
            )
    try:
        hp = dict(hparams or {})
        if inputs is not None:
            hp["inputs"] = inputs
        cal = get_calibrator(method, **hp)
    except KeyError as exc:
        raise GencalInputError(str(exc.args[0] if exc.args else exc)) from None
    cal.fit(data.fit_logits, data.fit_labels)
    arrays: dict[str, np.ndarray] = {}
    if data.test_logits is not None:
        arrays["probs"] = np.asarray(cal.predict_proba(data.test_logits), dtype=np.float64)
        arrays["cal_probs"] = np.asarray(cal.predict_proba(data.fit_logits), dtype=np.float64)
        if data.test_labels is not None:
            arrays["labels"] = data.test_labels
    else:
        arrays["probs"] = np.asarray(cal.predict_proba(data.fit_logits), dtype=np.float64)
        arrays["labels"] = data.fit_labels
    state = cal.state_dict_json()
    from gencal.io import atomic_save_npz, atomic_write_json

    atomic_save_npz(npz_path, **arrays)
    atomic_write_json(json_path, state)
    return npz_path, json_path
