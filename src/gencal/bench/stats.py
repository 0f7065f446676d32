"""Summaries over seeds and paired tests of each loss against cross-entropy.

- ``summarise``: mean and sample standard deviation (``ddof=1``; 0 when there is a single
  seed) of every metric over seeds, per (data, model, loss, calibrator). NaN values (a metric a
  run could not compute) are left out of that metric's mean/std and ``n`` counts the rest.
- ``paired_tests``: for every loss other than the reference (``ce``), calibrator and metric,
  the runs of the loss and of the reference are paired by seed (same data, model, calibrator);
  ``mean_diff`` = mean over pairs of (loss - reference). Tests are two-sided:
  the paired t-test (``scipy.stats.ttest_rel``) for every ``n >= 2``, and the Wilcoxon
  signed-rank test (``scipy.stats.wilcoxon``, exact distribution for small n, zero differences
  dropped as in scipy's default ``zero_method="wilcox"``) when ``n >= 6`` — below six pairs its
  smallest attainable two-sided p-value is above 0.05, so it could never reject.
  ``p_value`` is the Wilcoxon p-value when it was computed and the t-test p-value otherwise, and
  ``test`` names which one it is.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["WILCOXON_MIN_N", "PairedTest", "Summary", "paired_tests", "summarise"]

WILCOXON_MIN_N = 6


@dataclass(frozen=True)
class Summary:
    """Mean/std over seeds of one (data, model, loss, calibrator) cell."""

    data: str
    model: str
    loss: str
    calibrator: str
    seeds: tuple[int, ...]
    mean: dict[str, float]
    std: dict[str, float]
    n: dict[str, int]


@dataclass(frozen=True)
class PairedTest:
    """One loss against the reference loss, for one calibrator and metric."""

    data: str
    model: str
    calibrator: str
    loss: str
    reference: str
    metric: str
    n: int
    mean_diff: float
    p_ttest: float
    p_wilcoxon: float
    test: str  # "wilcoxon", "t-test" or "none" (fewer than 2 pairs)

    @property
    def p_value(self) -> float:
        if self.test == "wilcoxon":
            return self.p_wilcoxon
        return self.p_ttest


def _order(values: Iterable[str], preferred: Sequence[str]) -> list[str]:
    vals = list(dict.fromkeys(values))
    head = [v for v in preferred if v in vals]
    return head + sorted(v for v in vals if v not in head)


def summarise(
    records: Sequence[dict[str, Any]],
    loss_order: Sequence[str] = ("ce",),
    calibrator_order: Sequence[str] = ("none", "ts", "ats"),
) -> list[Summary]:
    """Mean/std over seeds per (data, model, loss, calibrator), in a stable display order."""
    cells: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        cells[(r["data"], r["model"], r["loss"], r["calibrator"])].append(r)
    losses = _order((k[2] for k in cells), loss_order)
    cals = _order((k[3] for k in cells), calibrator_order)
    keys = sorted(cells, key=lambda k: (k[0], k[1], losses.index(k[2]), cals.index(k[3])))
    out = []
    for key in keys:
        recs = sorted(cells[key], key=lambda r: r["seed"])
        names = sorted({m for r in recs for m in r["metrics"]})
        mean, std, n = {}, {}, {}
        for m in names:
            v = np.array([r["metrics"].get(m, math.nan) for r in recs], dtype=float)
            v = v[~np.isnan(v)]
            n[m] = int(v.size)
            mean[m] = float(v.mean()) if v.size else math.nan
            std[m] = float(v.std(ddof=1)) if v.size > 1 else (0.0 if v.size == 1 else math.nan)
        out.append(Summary(*key, tuple(r["seed"] for r in recs), mean, std, n))
    return out


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float, str]:
    from scipy import stats

    n = a.size
    if n < 2:
        return math.nan, math.nan, "none"
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        p_t = float(stats.ttest_rel(a, b).pvalue)
        p_w = math.nan
        if n >= WILCOXON_MIN_N:
            try:
                p_w = float(stats.wilcoxon(a, b).pvalue)
            except ValueError:  # all differences are zero
                p_w = math.nan
    if n >= WILCOXON_MIN_N and not math.isnan(p_w):
        return p_t, p_w, "wilcoxon"
    return p_t, p_w, "t-test"


def paired_tests(
    records: Sequence[dict[str, Any]],
    metrics: Sequence[str] | None = None,
    reference: str = "ce",
) -> list[PairedTest]:
    """Paired tests of every loss against ``reference`` (see the module docstring)."""
    by: dict[tuple[str, str, str, str], dict[int, dict[str, float]]] = defaultdict(dict)
    for r in records:
        by[(r["data"], r["model"], r["calibrator"], r["loss"])][r["seed"]] = r["metrics"]
    out = []
    for (data, model, cal, loss), seeds in by.items():
        if loss == reference:
            continue
        ref = by.get((data, model, cal, reference))
        if ref is None:
            continue
        common = sorted(set(seeds) & set(ref))
        names = metrics if metrics is not None else sorted({m for s in common for m in seeds[s]})
        for m in names:
            a = np.array([seeds[s].get(m, math.nan) for s in common], dtype=float)
            b = np.array([ref[s].get(m, math.nan) for s in common], dtype=float)
            ok = ~(np.isnan(a) | np.isnan(b))
            if not ok.any() and m not in (seeds[common[0]] if common else {}):
                continue
            a, b = a[ok], b[ok]
            p_t, p_w, test = _paired(a, b)
            diff = float((a - b).mean()) if a.size else math.nan
            out.append(
                PairedTest(data, model, cal, loss, reference, m, int(a.size), diff, p_t, p_w, test)
            )
    return out
