"""Summaries over seeds, paired tests between rows of the report, and Holm's correction.

A *row* of the report is one configuration of a study with the seed left out (see
:mod:`gencal.bench.cells`): records carry its label in ``loss`` (the loss name, plus the config
keys that tell it apart from the other rows, e.g. ``focal(gamma=2)``), the plain loss name in
``loss_name`` and, where it exists, the label of the reference row they are tested against in
``reference_row``. Records without those fields (hand-made ones) use ``loss`` for all three.

- :func:`summarise`: mean and sample standard deviation (``ddof=1``; 0 for a single seed) of
  every metric over seeds, per (data, model, row, calibrator). NaN values (a metric a run could
  not compute) are left out of that metric's mean/std and ``n`` counts the rest.
- :func:`paired_tests`: each :class:`Comparison` (by default every row against its reference
  row, calibrator by calibrator) pairs the runs of the two cells by seed; ``mean_diff`` = mean
  over pairs of (row - reference). Tests are two-sided: the paired t-test
  (``scipy.stats.ttest_rel``) for every ``n >= 2``, and the Wilcoxon signed-rank test
  (``scipy.stats.wilcoxon``, exact distribution for small n, zero differences dropped as in
  scipy's default ``zero_method="wilcox"``) when ``n >= 6`` — below six pairs its smallest
  attainable two-sided p-value is above 0.05, so it could never reject. ``p_value`` is the
  Wilcoxon p-value when it was computed and the t-test p-value otherwise; ``test`` names it.
- :func:`holm` / :func:`adjust_holm`: Holm's step-down adjustment of a family of p-values
  (:func:`holm_family`: one metric after one calibrator, the losses compared with the
  reference), controlling the family-wise error rate.
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gencal._checks import GencalInputError

__all__ = [
    "WILCOXON_MIN_N",
    "Comparison",
    "PairedTest",
    "Summary",
    "adjust_holm",
    "fitted_attributes",
    "holm",
    "holm_family",
    "paired_tests",
    "parse_comparisons",
    "reference_comparisons",
    "summarise",
]

WILCOXON_MIN_N = 6


@dataclass(frozen=True)
class Summary:
    """Mean/std over seeds of one (data, model, row, calibrator) cell; ``loss`` is the row label.

    ``mean``, ``std`` (``ddof=1``; 0 for one seed) and ``n`` (seeds with a value) map metric
    names to values; :func:`summarise` makes them.

    Example:
        >>> recs = [{"data": "d", "model": "m", "loss": "gce", "calibrator": "ts", "seed": s,
        ...          "metrics": {"ece": e, "nll": n}}
        ...         for s, e, n in [(0, 0.02, 0.4), (1, 0.04, float("nan")), (2, 0.03, 0.5)]]
        >>> cell = summarise(recs)[0]
        >>> cell.loss, cell.seeds, round(cell.mean["ece"], 3), cell.n
        ('gce', (0, 1, 2), 0.03, {'ece': 3, 'nll': 2})
    """

    data: str
    model: str
    loss: str
    calibrator: str
    seeds: tuple[int, ...]
    mean: dict[str, float]
    std: dict[str, float]
    n: dict[str, int]


@dataclass(frozen=True)
class Comparison:
    """Row ``loss`` with ``calibrator`` against row ``reference`` with ``reference_calibrator``.

    The question one paired test answers, in one (data, model) setting;
    :func:`reference_comparisons` and :func:`parse_comparisons` make them from records.

    Example:
        >>> c = Comparison("digits", "mlp", "gce", "ats", "focal", "ts")
        >>> f"{c.loss}+{c.calibrator} vs {c.reference}+{c.reference_calibrator}"
        'gce+ats vs focal+ts'
    """

    data: str
    model: str
    loss: str
    calibrator: str
    reference: str
    reference_calibrator: str


@dataclass(frozen=True)
class PairedTest:
    """One paired test of a :class:`Comparison` for one metric.

    ``n`` seeds are paired; ``mean_diff`` is the mean of (row - reference); ``p_ttest`` and
    ``p_wilcoxon`` are two-sided (NaN where not computed); ``test`` names the one
    :attr:`p_value` reports; ``p_holm`` is set by :func:`adjust_holm`. :func:`paired_tests`
    makes them.

    Example:
        >>> t = PairedTest("d", "m", "ts", "gce", "ce", "ece", n=3, mean_diff=-0.01,
        ...                p_ttest=0.04, p_wilcoxon=math.nan, test="t-test")
        >>> t.p_value, t.pair
        (0.04, ('gce', 'ts', 'ce', 'ts'))
    """

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
    reference_calibrator: str = ""
    p_holm: float = math.nan  # set by adjust_holm over a family of tests

    def __post_init__(self) -> None:
        if not self.reference_calibrator:
            object.__setattr__(self, "reference_calibrator", self.calibrator)

    @property
    def p_value(self) -> float:
        """The p-value of the test named by :attr:`test` (NaN when no test was possible)."""
        if self.test == "wilcoxon":
            return self.p_wilcoxon
        return self.p_ttest

    @property
    def pair(self) -> tuple[str, str, str, str]:
        """``(loss, calibrator, reference, reference_calibrator)``."""
        return (self.loss, self.calibrator, self.reference, self.reference_calibrator)


def _order(values: Iterable[str], preferred: Sequence[str]) -> list[str]:
    vals = list(dict.fromkeys(values))
    head = [v for v in preferred if v in vals]
    return head + sorted(v for v in vals if v not in head)


def _natural(label: str) -> tuple[Any, ...]:
    """Sort key that orders numbers by value: ``epochs=3`` before ``epochs=10``."""
    parts = re.split(r"(\d+(?:\.\d+)?)", label)
    return tuple((0, float(p), "") if i % 2 else (1, 0.0, p) for i, p in enumerate(parts))


def _loss_name(r: dict[str, Any]) -> str:
    return str(r.get("loss_name") or r["loss"])


def summarise(
    records: Sequence[dict[str, Any]],
    loss_order: Sequence[str] = ("ce",),
    calibrator_order: Sequence[str] = ("none", "ts", "ats"),
) -> list[Summary]:
    """Mean/std over seeds per (data, model, row, calibrator), in a stable display order.

    Rows are ordered by ``loss_order`` (matched against the row label or its loss name), then
    by label, numbers by value (``epochs=3`` before ``epochs=10``); calibrators by
    ``calibrator_order``, then by name.

    Args:
        records: evaluation records (``data model loss seed calibrator metrics``).
        loss_order: losses to show first, in this order.
        calibrator_order: calibrators to show first, in this order.

    Returns:
        One :class:`Summary` per cell.

    Example:
        >>> recs = [{"data": "d", "model": "m", "loss": "ce", "calibrator": "ts", "seed": s,
        ...          "metrics": {"ece": e}} for s, e in [(0, 0.1), (1, 0.3)]]
        >>> s = summarise(recs)[0]
        >>> s.seeds, round(s.mean["ece"], 3), round(s.std["ece"], 4)
        ((0, 1), 0.2, 0.1414)
    """
    cells: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    base: dict[str, str] = {}
    for r in records:
        cells[(r["data"], r["model"], r["loss"], r["calibrator"])].append(r)
        base.setdefault(r["loss"], _loss_name(r))
    pref = {name: i for i, name in enumerate(loss_order)}

    def row_key(row: str) -> tuple[int, str, tuple[Any, ...]]:
        p = pref.get(row, pref.get(base[row], len(pref)))
        return (p, base[row], _natural(row))

    cals = _order((k[3] for k in cells), calibrator_order)
    keys = sorted(cells, key=lambda k: (k[0], k[1], row_key(k[2]), cals.index(k[3])))
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


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error rate control).

    With the m p-values sorted, ``p_(1) <= ... <= p_(m)``, the adjusted value of the i-th is
    ``max_{j <= i} min(1, (m - j + 1) p_(j))``; rejecting where it is below alpha is Holm's
    procedure at level alpha. NaN entries (no test) stay NaN and do not count in m.

    Args:
        p_values: raw p-values of one family of tests.

    Shape:
        p_values: ``[m]``; returns ``[m]`` in the same order.

    Returns:
        The adjusted p-values, float64.

    Example:
        >>> holm([0.01, 0.04, 0.03, 0.005]).round(3).tolist()
        [0.03, 0.06, 0.06, 0.02]
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, math.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def holm_family(test: PairedTest) -> tuple[str, str, str, str, str]:
    """The family a paired test is Holm-adjusted in: one question of the study.

    A family is one metric after one calibrator in one (data, model) setting: the losses
    compared with the reference there ("which losses change ECE after TS?"). Its size is the
    number of losses compared, so the correction grows with the rows of a table, not with the
    number of metrics and calibrators the report happens to show.

    Args:
        test: a paired test.

    Returns:
        ``(data, model, metric, calibrator, reference_calibrator)``.

    Example:
        >>> t = PairedTest("digits", "mlp", "ts", "gce", "ce", "ece", n=3, mean_diff=-0.01,
        ...                p_ttest=0.04, p_wilcoxon=math.nan, test="t-test")
        >>> holm_family(t)
        ('digits', 'mlp', 'ece', 'ts', 'ts')
    """
    return (test.data, test.model, test.metric, test.calibrator, test.reference_calibrator)


def adjust_holm(
    tests: Sequence[PairedTest], family: Callable[[PairedTest], Hashable]
) -> list[PairedTest]:
    """The tests with :attr:`PairedTest.p_holm` set by :func:`holm` within each family.

    Args:
        tests: paired tests.
        family: maps a test to its family key (e.g. the report table it is shown in).

    Returns:
        New tests in the same order, ``p_holm`` adjusted over the ``p_value`` of their family.

    Example:
        >>> ts = [PairedTest("d", "m", "ts", lo, "ce", "ece", 5, 0.0, p, math.nan, "t-test")
        ...       for lo, p in (("gce", 0.01), ("focal", 0.04))]
        >>> [t.p_holm for t in adjust_holm(ts, lambda t: (t.data, t.model))]
        [0.02, 0.04]
    """
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for i, t in enumerate(tests):
        groups[family(t)].append(i)
    out = list(tests)
    for idx in groups.values():
        adj = holm([tests[i].p_value for i in idx])
        for i, a in zip(idx, adj):
            out[i] = dataclasses.replace(tests[i], p_holm=float(a))
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


def reference_comparisons(
    records: Sequence[dict[str, Any]], reference: str = "ce"
) -> list[Comparison]:
    """Every row whose loss is not ``reference`` against its reference row, per calibrator.

    The reference row of a record is its ``reference_row`` field when present (the row of the
    reference loss with the same other settings, see :mod:`gencal.bench.cells`), else
    ``reference`` itself. Rows without a reference cell are left out.

    Args:
        records: (row-labelled) evaluation records.
        reference: the reference loss.

    Returns:
        The comparisons, in order of the records.

    Example:
        >>> recs = [{"data": "d", "model": "m", "loss": lo, "calibrator": "ts"}
        ...         for lo in ("ce", "gce")]
        >>> reference_comparisons(recs)
        [Comparison(data='d', model='m', loss='gce', calibrator='ts', reference='ce', reference_calibrator='ts')]
    """
    cells = {(r["data"], r["model"], r["loss"], r["calibrator"]) for r in records}
    out = []
    for r in records:
        if _loss_name(r) == reference:
            continue
        ref = r.get("reference_row") or reference
        c = Comparison(r["data"], r["model"], r["loss"], r["calibrator"], ref, r["calibrator"])
        if (c.data, c.model, ref, c.calibrator) in cells:
            out.append(c)
    return list(dict.fromkeys(out))


def parse_comparisons(
    specs: Iterable[Any] | None, records: Sequence[dict[str, Any]]
) -> list[Comparison]:
    """Comparisons named in a config, matched against the rows of the records.

    A spec is ``"gce+ats vs focal+ts"`` or ``{"a": "gce+ats", "b": "focal+ts"}``: ``<row>+<calibrator>``
    where ``<row>`` is a row label (``focal(gamma=2)``; a loss at its preset values is labelled
    with its plain name, ``gce``) and matches that row only; a loss name that is no row label of
    the (data, model) matches every row of that loss. One :class:`Comparison` per matching pair
    of rows in each (data, model).

    Args:
        specs: the ``report.comparisons`` list of the experiment config.
        records: the records whose rows the specs are matched against.

    Returns:
        The comparisons, in spec order.

    Example:
        >>> rows = {"gce": "gce", "focal(gamma=1)": "focal", "focal(gamma=3)": "focal"}
        >>> recs = [{"data": "d", "model": "m", "loss": row, "loss_name": name, "calibrator": c}
        ...         for row, name in rows.items() for c in ("ts", "ats")]
        >>> [(c.loss, c.reference) for c in parse_comparisons(["gce+ats vs focal+ts"], recs)]
        [('gce', 'focal(gamma=1)'), ('gce', 'focal(gamma=3)')]
        >>> recs = [{**r, "loss": "focal"} if r["loss"] == "focal(gamma=3)" else r for r in recs]
        >>> [(c.loss, c.reference) for c in parse_comparisons(["gce+ats vs focal+ts"], recs)]
        [('gce', 'focal')]
    """
    cells = list(
        dict.fromkeys((r["data"], r["model"], r["loss"], r["calibrator"]) for r in records)
    )
    names = {r["loss"]: _loss_name(r) for r in records}
    labels: dict[tuple[str, str], set[str]] = {}
    for d, m, row, _ in cells:
        labels.setdefault((d, m), set()).add(row)

    def matches(want: str, row: str, setting: tuple[str, str]) -> bool:
        if want in labels[setting]:
            return want == row
        return want == names[row]

    out: list[Comparison] = []
    for spec in specs or ():
        if isinstance(spec, str) and " vs " in spec:
            a, b = (s.strip() for s in spec.split(" vs ", 1))
        elif isinstance(spec, dict) and {"a", "b"} <= set(spec):
            a, b = str(spec["a"]), str(spec["b"])
        else:
            raise GencalInputError(
                f"report.comparisons: cannot read {spec!r}; write 'gce+ats vs focal+ts' or "
                "{a: gce+ats, b: focal+ts}"
            )
        sides = []
        for side in (a, b):
            row, sep, cal = side.rpartition("+")
            if not sep or not row or not cal:
                raise GencalInputError(
                    f"report.comparisons: {side!r} must read <loss or row>+<calibrator>, e.g. gce+ats"
                )
            sides.append((row.strip(), cal.strip()))
        (ra, ca), (rb, cb) = sides
        for d, m, row_a, cal_a in cells:
            if cal_a != ca or not matches(ra, row_a, (d, m)):
                continue
            for d2, m2, row_b, cal_b in cells:
                if (d2, m2) == (d, m) and cal_b == cb and matches(rb, row_b, (d, m)):
                    if (row_a, cal_a) != (row_b, cal_b):
                        out.append(Comparison(d, m, row_a, cal_a, row_b, cal_b))
    return list(dict.fromkeys(out))


def paired_tests(
    records: Sequence[dict[str, Any]],
    metrics: Sequence[str] | None = None,
    reference: str = "ce",
    comparisons: Sequence[Comparison] | None = None,
) -> list[PairedTest]:
    """Paired tests over seeds (see the module docstring); ``p_holm`` is left NaN.

    Args:
        records: evaluation records.
        metrics: metric keys to test; default every metric of the records.
        reference: the reference loss of the default comparisons.
        comparisons: the pairs of cells to test; default :func:`reference_comparisons`.

    Returns:
        One :class:`PairedTest` per comparison and metric.

    Example:
        >>> recs = [{"data": "d", "model": "m", "loss": loss, "calibrator": "ts", "seed": s,
        ...          "metrics": {"ece": e + 0.01 * s * s}}
        ...         for loss, e in (("ce", 0.03), ("gce", 0.02)) for s in range(3)]
        >>> t = paired_tests(recs, ["ece"])[0]
        >>> t.loss, t.reference, t.n, t.test, round(t.mean_diff, 4)
        ('gce', 'ce', 3, 't-test', -0.01)
    """
    by: dict[tuple[str, str, str, str], dict[int, dict[str, float]]] = defaultdict(dict)
    for r in records:
        by[(r["data"], r["model"], r["loss"], r["calibrator"])][r["seed"]] = r["metrics"]
    if comparisons is None:
        comparisons = reference_comparisons(records, reference)
    out = []
    for c in comparisons:
        seeds = by.get((c.data, c.model, c.loss, c.calibrator))
        ref = by.get((c.data, c.model, c.reference, c.reference_calibrator))
        if seeds is None or ref is None:
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
                PairedTest(
                    c.data,
                    c.model,
                    c.calibrator,
                    c.loss,
                    c.reference,
                    m,
                    int(a.size),
                    diff,
                    p_t,
                    p_w,
                    test,
                    c.reference_calibrator,
                )
            )
    return out


def fitted_attributes(
    records: Sequence[dict[str, Any]],
) -> dict[tuple[str, str, str, str], dict[str, list[float]]]:
    """The fitted scalar attributes of each cell's calibrators, one value per seed.

    A record's values are its ``fitted`` field (written by the evaluation), else those of the
    calibrator rebuilt from its ``calibrator_state`` (:func:`gencal.bench.evaluate.fitted_scalars`).

    Args:
        records: (row-labelled) evaluation records.

    Returns:
        ``(data, model, row, calibrator) -> {attribute: [value per seed]}``, cells without any
        fitted scalar left out.

    Example:
        >>> recs = [{"data": "d", "model": "m", "loss": "ce", "calibrator": "ts", "seed": s,
        ...          "fitted": {"temperature_": t}} for s, t in ((1, 1.5), (0, 1.2))]
        >>> fitted_attributes(recs)
        {('d', 'm', 'ce', 'ts'): {'temperature_': [1.2, 1.5]}}
    """
    from gencal.bench.evaluate import fitted_scalars

    out: dict[tuple[str, str, str, str], dict[str, list[float]]] = {}
    for r in sorted(records, key=lambda r: r["seed"]):
        vals = r.get("fitted")
        if vals is None:
            try:
                from gencal.calibration import load_calibrator

                vals = fitted_scalars(load_calibrator(r["calibrator_state"]))
            except Exception:  # a state this gencal cannot rebuild: nothing to show
                vals = {}
        if vals:
            cell = out.setdefault((r["data"], r["model"], r["loss"], r["calibrator"]), {})
            for k, v in vals.items():
                cell.setdefault(k, []).append(math.nan if v is None else float(v))
    return out
