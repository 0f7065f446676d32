"""Bootstrap confidence intervals for any metric (percentile method, seeded, reproducible).

``bootstrap_ci(metric_fn, probs, labels)`` resamples the N (probs, label) pairs with replacement
``n_boot`` times and reports the ``alpha/2`` and ``1 - alpha/2`` percentiles of the metric.
Any callable ``metric_fn(probs, labels) -> float`` works (called once per replicate). For
:func:`accuracy`, :func:`negative_log_likelihood`, :func:`brier_score`,
:func:`expected_calibration_error` and :func:`maximum_calibration_error` (default arguments) the
replicates are computed all at once from per-sample statistics (gather + bincount, no per-replicate
Python call); both paths draw the same indices for a given seed, so they agree exactly.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch

from gencal._checks import GencalInputError
from gencal.metrics import functional
from gencal.metrics._inputs import Prepared, prepare_from_probs
from gencal.metrics.binning import bin_index

__all__ = ["BootstrapCI", "bootstrap_ci"]

_CHUNK_ELEMS = 1 << 23  # indices drawn per chunk of replicates (64 MiB of int64)


@dataclass(frozen=True)
class BootstrapCI:
    """Point estimate on the full data, percentile interval, bootstrap std and settings.

    Example:
        >>> BootstrapCI(0.5, 0.4, 0.6, 0.05, 1000, 0.05).as_dict()["high"]
        0.6
    """

    estimate: float
    low: float
    high: float
    std: float
    n_boot: int
    alpha: float

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def _index_chunks(n: int, n_boot: int, seed: int, device: torch.device) -> Iterator[torch.Tensor]:
    g = torch.Generator().manual_seed(int(seed))
    per = max(1, _CHUNK_ELEMS // max(n, 1))
    done = 0
    while done < n_boot:
        b = min(per, n_boot - done)
        yield torch.randint(0, n, (b, n), generator=g).to(device)
        done += b


def _vectorised(metric_fn: Callable[..., float], prep: Prepared):
    """Per-replicate evaluator ``idx [B, N] -> values [B]`` for the known metrics, else None."""
    n = prep.n
    if metric_fn is functional.accuracy:
        vec = prep.correct.to(torch.float64)
        return lambda idx: vec[idx].mean(dim=1)
    if metric_fn is functional.negative_log_likelihood:
        vec = functional.nll_per_sample(prep)
        return lambda idx: vec[idx].mean(dim=1)
    if metric_fn is functional.brier_score:
        vec = functional.brier_per_sample(prep)
        return lambda idx: vec[idx].mean(dim=1)
    if metric_fn in (functional.expected_calibration_error, functional.maximum_calibration_error):
        n_bins = 15
        bins = bin_index(prep.conf, n_bins, prep.edge_dtype)
        conf = prep.conf.to(torch.float64)
        acc = prep.correct.to(torch.float64)
        use_max = metric_fn is functional.maximum_calibration_error

        def run(idx: torch.Tensor) -> torch.Tensor:
            b = idx.shape[0]
            key = (torch.arange(b, device=idx.device)[:, None] * n_bins + bins[idx]).reshape(-1)
            size = b * n_bins
            count = torch.bincount(key, minlength=size).to(torch.float64).view(b, n_bins)
            s_conf = torch.bincount(key, weights=conf[idx].reshape(-1), minlength=size)
            s_acc = torch.bincount(key, weights=acc[idx].reshape(-1), minlength=size)
            diff = (s_acc - s_conf).abs().view(b, n_bins)
            if not use_max:
                return diff.sum(dim=1) / n
            gap = torch.where(count > 0, diff / count.clamp(min=1), torch.zeros_like(diff))
            return gap.max(dim=1).values

        return run
    return None


def bootstrap_ci(
    metric_fn: Callable[..., float],
    probs: Any,
    labels: Any,
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    validate_args: bool = True,
) -> BootstrapCI:
    """Percentile bootstrap interval ``[q_{alpha/2}, q_{1-alpha/2}]`` of ``metric_fn``.

    ``metric_fn(probs, labels)`` is any metric taking probabilities (e.g. ``functools.partial(
    expected_calibration_error, n_bins=20)``); the inputs are validated once and the replicates
    are called with ``validate_args=False`` when the function accepts it. Replicates are drawn
    with ``torch.randint`` from a ``torch.Generator`` seeded with ``seed``: same seed, same
    interval. Quantiles use linear interpolation (``torch.quantile``).

    Args:
        metric_fn: a metric ``metric_fn(probs, labels) -> float``.
        probs: probabilities of every class.
        labels: integer class indices.
        n_boot: number of resamples.
        alpha: the interval covers ``1 - alpha``.
        seed: seed of the resampling.
        validate_args: check values (NaN/inf, simplex, label range).

    Shape:
        ``probs [N, K]``, ``labels [N]``.

    Returns:
        A :class:`BootstrapCI`.

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> from gencal.metrics import accuracy
        >>> ci = bootstrap_ci(accuracy, probs, labels, n_boot=200)
        >>> ci.estimate, ci.low <= ci.estimate <= ci.high
        (0.75, True)
    """
    if not callable(metric_fn):
        raise GencalInputError(f"metric_fn: expected a callable, got {type(metric_fn).__name__}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 2:
        raise GencalInputError(f"n_boot: expected an integer >= 2, got {n_boot!r}")
    if not 0 < alpha < 1:
        raise GencalInputError(f"alpha: expected a value in (0, 1), got {alpha!r}")
    prep = prepare_from_probs(probs, labels, validate_args=validate_args)
    p, y = prep.probs, prep.labels
    estimate = float(metric_fn(p, y))
    fast = _vectorised(metric_fn, prep)
    kwargs = {}
    if fast is None:
        try:
            if "validate_args" in inspect.signature(metric_fn).parameters:
                kwargs["validate_args"] = False
        except (TypeError, ValueError):  # builtins / C callables without a signature
            pass
    values = []
    for idx in _index_chunks(prep.n, n_boot, seed, p.device):
        if fast is not None:
            values.append(fast(idx).to(torch.float64).cpu())
        else:
            vals = [float(metric_fn(p[row], y[row], **kwargs)) for row in idx]
            values.append(torch.tensor(vals, dtype=torch.float64))
    v = torch.cat(values)
    q = torch.quantile(v, torch.tensor([alpha / 2, 1 - alpha / 2], dtype=torch.float64))
    return BootstrapCI(estimate, float(q[0]), float(q[1]), float(v.std()), n_boot, float(alpha))
