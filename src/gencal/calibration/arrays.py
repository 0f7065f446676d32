"""Array helpers shared by the calibrators: input conversion, softmax, weights, output type.

Calibrators fit and apply in float64 numpy on the CPU (calibration splits are small). These
helpers turn what the user gave (numpy array or torch tensor, any float dtype) into validated
float64 arrays, and turn results back into the type the user gave.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gencal._checks import GencalInputError, as_tensor, check_labels, check_logits

__all__ = [
    "LOG_PROBS_FLOOR",
    "PROBS_ATOL",
    "as_input_type",
    "check_sample_weight",
    "class_balanced_weights",
    "equal_width_bin",
    "log_probabilities",
    "log_softmax_np",
    "looks_like_probabilities",
    "single_column_shape",
    "softmax_np",
    "to_numpy_logits",
    "top_confidence_np",
    "two_columns",
]


def to_numpy_logits(logits: Any, name: str = "logits") -> np.ndarray:
    """Validated float64 numpy copy of ``logits`` (finite, ``K >= 2`` columns).

    Args:
        logits: numpy array or torch tensor of floats.
        name: argument name used in error messages.

    Shape:
        ``logits``: ``[N, K]``; output ``[N, K]`` float64.

    Returns:
        The logits as float64 numpy (a copy when the input is not float64 numpy).

    Raises:
        GencalInputError: wrong shape or dtype, ``K < 2``, NaN or inf.

    Example:
        >>> to_numpy_logits(torch.tensor([[1.0, 2.0]])).dtype
        dtype('float64')
    """
    t = as_tensor(logits, name)
    check_logits(t, name, values=False)
    if t.shape[1] < 2:
        raise GencalInputError(f"{name}: need at least 2 classes, got K={t.shape[1]}")
    if isinstance(logits, np.ndarray):
        z = np.asarray(logits, dtype=np.float64)
    else:
        z = t.detach().cpu().to(torch.float64).numpy()
    # the finiteness check runs in numpy on the float64 copy: cheaper than a torch pass
    if not np.isfinite(z).all():
        n_nan = int(np.isnan(z).sum())
        n_inf = int(np.isinf(z).sum())
        raise GencalInputError(f"{name}: contains non-finite values ({n_nan} NaN, {n_inf} inf)")
    return z


def as_input_type(out: np.ndarray, ref: Any) -> Any:
    """Return float64 ``out`` as the type of ``ref``: numpy or tensor, same float dtype, device.

    Args:
        out: float64 result.
        ref: what the user passed in (numpy array or torch tensor).

    Returns:
        ``out`` as a tensor on ``ref``'s device and dtype when ``ref`` is a tensor, else as numpy
        with ``ref``'s float dtype (float64 when ``ref`` is not floating).

    Example:
        >>> as_input_type(np.ones(2), torch.zeros(2, dtype=torch.float16)).dtype
        torch.float16
    """
    if isinstance(ref, torch.Tensor):
        dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
        return torch.from_numpy(np.ascontiguousarray(out)).to(device=ref.device, dtype=dtype)
    ref_dtype = getattr(ref, "dtype", None)
    if ref_dtype is not None and np.issubdtype(ref_dtype, np.floating):
        return out.astype(ref_dtype, copy=False)
    return out


def softmax_np(z: np.ndarray) -> np.ndarray:
    """Row softmax of float64 logits (shifted by the row maximum, so ``exp`` never overflows).

    Args:
        z: float64 logits.

    Shape:
        ``z``: ``[N, K]``; output ``[N, K]``, rows sum to 1.

    Example:
        >>> softmax_np(np.array([[0.0, np.log(3.0)]]))
        array([[0.25, 0.75]])
    """
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def log_softmax_np(z: np.ndarray) -> np.ndarray:
    """Row log-softmax of float64 logits (stable).

    Args:
        z: float64 logits.

    Shape:
        ``z``: ``[N, K]``; output ``[N, K]``.

    Example:
        >>> np.exp(log_softmax_np(np.array([[0.0, np.log(3.0)]])))
        array([[0.25, 0.75]])
    """
    s = z - z.max(axis=1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


def top_confidence_np(z: np.ndarray) -> np.ndarray:
    """Top-label softmax probability ``max_k softmax(z)_k`` per row (float64).

    Args:
        z: float64 logits.

    Shape:
        ``z``: ``[N, K]``; output ``[N]``.

    Example:
        >>> top_confidence_np(np.array([[0.0, np.log(3.0)]]))
        array([0.75])
    """
    s = z - z.max(axis=1, keepdims=True)
    return 1.0 / np.exp(s).sum(axis=1)


def check_sample_weight(sample_weight: Any, n: int) -> np.ndarray | None:
    """Validated float64 sample weights, or ``None`` when none are given.

    Args:
        sample_weight: ``None`` or weights (numpy, tensor or list): finite, ``>= 0``, positive sum.
        n: number of samples the weights must match.

    Shape:
        ``sample_weight``: ``[N]``; output ``[N]`` float64.

    Raises:
        GencalInputError: wrong shape or length, NaN/inf, negative weights or a zero sum.

    Example:
        >>> check_sample_weight([1, 2], 2)
        array([1., 2.])
    """
    if sample_weight is None:
        return None
    w = as_tensor(sample_weight, "sample_weight").detach().cpu().to(torch.float64).numpy()
    if w.ndim != 1:
        raise GencalInputError(f"sample_weight: expected shape [N], got {w.shape}")
    if w.shape[0] != n:
        raise GencalInputError(
            f"length mismatch: logits has {n} rows but sample_weight has {w.shape[0]}"
        )
    if not np.isfinite(w).all():
        raise GencalInputError("sample_weight: contains NaN or inf")
    if (w < 0).any():
        raise GencalInputError("sample_weight: must be non-negative")
    if w.sum() <= 0:
        raise GencalInputError("sample_weight: the weights sum to zero")
    return w


def class_balanced_weights(labels: Any, num_classes: int | None = None) -> np.ndarray:
    """Per-sample weights ``w_i = N / (C n_{y_i})`` (``C`` = number of classes present).

    Every present class gets the same total weight ``N / C`` and the weights average to 1, so
    hyperparameters counted in samples (e.g. ATS's ``min_piece_size``) keep their meaning.

    Args:
        labels: integer class indices.
        num_classes: number of classes (default: ``max(labels) + 1``).

    Shape:
        ``labels``: ``[N]``; output ``[N]`` float64.

    Returns:
        The weights.

    Example:
        >>> class_balanced_weights(np.array([0, 0, 0, 1]))
        array([0.66666667, 0.66666667, 0.66666667, 2.        ])
    """
    y = as_tensor(labels, "labels")
    k = int(y.max()) + 1 if (num_classes is None and y.numel()) else (num_classes or 0)
    check_labels(y, max(k, 1), name="labels")
    y_np = y.detach().cpu().numpy().astype(np.int64)
    if y_np.size == 0:
        raise GencalInputError("labels: empty")
    counts = np.bincount(y_np, minlength=k)
    present = int((counts > 0).sum())
    return (y_np.size / (present * counts[y_np])).astype(np.float64)


def equal_width_bin(conf: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bin of each confidence, with :mod:`gencal.metrics`' binning.

    Bin ``b`` (0-based) holds ``b/n < c <= (b+1)/n``; ``c = 0`` goes to the first bin (the
    convention of ``gencal.metrics.expected_calibration_error``, computed by the same code).

    Args:
        conf: confidences in ``[0, 1]``.
        n_bins: number of bins.

    Shape:
        ``conf``: ``[N]``; output ``[N]`` int64.

    Example:
        >>> equal_width_bin(np.array([0.0, 0.2, 0.21, 1.0]), 5).tolist()
        [0, 0, 1, 4]
    """
    from gencal.metrics.binning import bin_index

    return bin_index(torch.from_numpy(np.ascontiguousarray(conf)), n_bins).numpy()


#: Probabilities are floored here before ``log`` when ``inputs="probs"`` (``log`` of it: -690.8).
LOG_PROBS_FLOOR = 1e-300
#: Row-sum tolerance of probabilities (declared ones are checked, undeclared ones detected).
PROBS_ATOL = 1e-4


def looks_like_probabilities(z: np.ndarray, atol: float = PROBS_ATOL) -> bool:
    """Whether every entry is ``>= 0`` and every row sums to 1 within ``atol``.

    Args:
        z: float64 scores.
        atol: tolerance on each row sum.

    Shape:
        ``z``: ``[N, K]``.

    Example:
        >>> looks_like_probabilities(np.array([[0.2, 0.8]])), looks_like_probabilities(np.ones((1, 2)))
        (True, False)
    """
    if not z.size or z.min() < 0:  # one pass; real logits stop here
        return False
    return bool(np.abs(z.sum(axis=1) - 1).max() <= atol)


def log_probabilities(p: np.ndarray, name: str = "probs", atol: float = PROBS_ATOL) -> np.ndarray:
    """Logits ``log(p)`` of probabilities, floored at ``LOG_PROBS_FLOOR`` (so zeros stay finite).

    ``softmax(log p) = p``, and a per-row shift of logits changes no softmax, so temperature
    methods fitted on ``log p`` are exactly those fitted on the logits ``p`` came from.

    Args:
        p: probabilities (rows on the simplex).
        name: argument name used in error messages.
        atol: tolerance on each row sum (plus float32 rounding).

    Shape:
        ``p``: ``[N, K]``; output ``[N, K]``.

    Raises:
        GencalInputError: negative entries or rows that do not sum to 1 within ``atol``.

    Example:
        >>> np.exp(log_probabilities(np.array([[0.25, 0.75]])))
        array([[0.25, 0.75]])
    """
    if p.size and p.min() < 0:
        raise GencalInputError(
            f"{name}: inputs='probs' was declared but there are negative values "
            f"(min {p.min():.3g}); pass logits with inputs='logits'"
        )
    worst = float(np.abs(p.sum(axis=1) - 1).max()) if p.size else 0.0
    if worst > atol + 2 * p.shape[1] * 6e-8:  # float32 rows carry ~K eps of rounding
        raise GencalInputError(
            f"{name}: inputs='probs' was declared but rows do not sum to 1 (worst row off by "
            f"{worst:.3g}); pass logits with inputs='logits'"
        )
    return np.log(np.maximum(p, LOG_PROBS_FLOOR))


def single_column_shape(x: Any) -> tuple[int, ...] | None:
    """The shape of a binary problem's single score column (``[N]`` or ``[N, 1]``), else ``None``.

    Args:
        x: scores (numpy, tensor or list).

    Example:
        >>> single_column_shape(np.zeros(3)), single_column_shape(np.zeros((3, 2)))
        ((3,), None)
    """
    shape = tuple(as_tensor(x, "logits").shape)
    if len(shape) == 1 or (len(shape) == 2 and shape[1] == 1):
        return shape
    return None


def two_columns(x: Any, inputs: str = "logits") -> torch.Tensor:
    """The two-class form of a single score column of class 1 (sigmoid convention).

    A logit ``z`` becomes the logits ``[0, z]`` (``softmax([0, z])_1 = sigmoid(z)``); a
    probability ``p`` becomes ``[1 - p, p]``.

    Args:
        x: scores of class 1.
        inputs: ``"logits"`` or ``"probs"``.

    Shape:
        ``x``: ``[N]`` or ``[N, 1]``; output ``[N, 2]`` (a tensor; same dtype).

    Example:
        >>> two_columns(np.array([1.5, -2.0])).tolist()
        [[0.0, 1.5], [0.0, -2.0]]
    """
    t = as_tensor(x, inputs).reshape(-1, 1)
    other = 1 - t if inputs == "probs" else torch.zeros_like(t)
    return torch.cat([other, t], dim=1)
