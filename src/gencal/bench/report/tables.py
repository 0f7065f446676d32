"""The report's tables: a small table model and the tables built from summaries and tests.

A :class:`Table` holds cell texts plus the cells to embolden, and renders itself to Markdown,
HTML and LaTeX. The builders below turn :class:`~gencal.bench.stats.Summary` rows (mean ± std
over seeds of one row x calibrator cell) and :class:`~gencal.bench.stats.PairedTest` results into
tables, one per (data, model) setting. Metrics are fractions in the records; columns marked ``%``
show them x100 (:class:`MetricSpec` says how each metric is shown).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gencal.bench.stats import WILCOXON_MIN_N, PairedTest, Summary

__all__ = [
    "KEY_METRICS",
    "MetricSpec",
    "Table",
    "fitted_tables",
    "group_tables",
    "metric_tables",
    "paired_tables",
    "pivot_tables",
    "resolve_metrics",
]

#: Class groups of long-tailed runs, in display order (metrics ``<name>@<group>``).
GROUPS = ("many", "medium", "few")
#: A cell that starts with a number (right-aligned in HTML; text cells are left-aligned).
_NUMBER = re.compile(r"^(Δ\s*)?[+-]?(\d|\.\d)")
#: Significance level of the bold marker in the paired-test tables (on the Holm-adjusted p).
ALPHA = 0.05


@dataclass
class Table:
    """A table of cell texts; ``bold`` holds the (row, column) pairs to embolden.

    Example:
        >>> t = Table("Demo", ["Loss", "ECE %"], [["ce", "3.10"], ["gce", "2.00"]], {(1, 1)})
        >>> print(t.to_markdown())
        ### Demo
        <BLANKLINE>
        | Loss | ECE % |
        |---|---|
        | ce | 3.10 |
        | gce | **2.00** |
        <BLANKLINE>
    """

    title: str
    columns: list[str]
    rows: list[list[str]]
    bold: set[tuple[int, int]] = field(default_factory=set)
    note: str = ""

    def to_markdown(self) -> str:
        """GitHub Markdown: a ``###`` title, the note, then the table."""

        def cell(i: int, j: int) -> str:
            s = self.rows[i][j].replace("|", "\\|")
            return f"**{s}**" if (i, j) in self.bold and s else s

        lines = [f"### {self.title}", ""]
        if self.note:
            lines += [self.note, ""]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in self.columns) + " |")
        lines.append("|" + "|".join(["---"] * len(self.columns)) + "|")
        for i, row in enumerate(self.rows):
            lines.append("| " + " | ".join(cell(i, j) for j in range(len(row))) + " |")
        return "\n".join(lines) + "\n"

    def to_html(self, table_id: str = "") -> str:
        """An ``<h3>`` title, the note and a ``<table class='sortable'>`` (sorted by the page's script).

        Cells that do not start with a number get ``class='t'`` (left-aligned by the page's CSS).
        """
        ident = f" id='{html.escape(table_id)}'" if table_id else ""
        out = [f"<h3{ident}>{html.escape(self.title)}</h3>"]
        if self.note:
            out.append(f"<p class='note'>{html.escape(self.note)}</p>")
        out.append("<div class='tw'><table class='sortable'><thead><tr>")
        out += [
            f"<th title='click to sort'>{html.escape(c)}</th>" if c else "<th></th>"
            for c in self.columns
        ]
        out.append("</tr></thead><tbody>")
        for i, row in enumerate(self.rows):
            out.append("<tr>")
            for j, c in enumerate(row):
                s = html.escape(c)
                s = f"<b>{s}</b>" if (i, j) in self.bold else s
                out.append(
                    f"<td>{s}</td>" if _NUMBER.match(c) or c == "–" else f"<td class='t'>{s}</td>"
                )
            out.append("</tr>")
        out.append("</tbody></table></div>")
        return "".join(out)

    def to_latex(self) -> str:
        """A ``table`` float with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""

        def esc(s: str) -> str:
            for a, b in (
                ("\\", r"\textbackslash{}"),
                ("&", r"\&"),
                ("%", r"\%"),
                ("_", r"\_"),
                ("#", r"\#"),
                ("$", r"\$"),
                ("{", r"\{"),
                ("}", r"\}"),
                ("Δ", r"$\Delta$"),
                ("±", r"$\pm$"),
                ("≥", r"$\geq$"),
                ("×", r"$\times$"),
            ):
                s = s.replace(a, b)
            return s

        spec = "l" * min(2, len(self.columns)) + "r" * max(0, len(self.columns) - 2)
        lines = [
            "% " + self.title,
            r"\begin{table}[t]",
            r"\centering\small",
            r"\caption{" + esc(self.title) + "}",
            r"\begin{tabular}{" + spec + "}",
            r"\toprule",
            " & ".join(esc(c) for c in self.columns) + r" \\",
            r"\midrule",
        ]
        for i, row in enumerate(self.rows):
            cells = [
                (r"\textbf{" + esc(c) + "}") if (i, j) in self.bold and c else esc(c)
                for j, c in enumerate(row)
            ]
            lines.append(" & ".join(cells) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
        return "\n".join(lines)


@dataclass(frozen=True)
class MetricSpec:
    """A metric shown in the tables: the record keys it may have, label, scale and direction.

    Args:
        name: the metric's name in the report (``"ece"``).
        label: the column label (``"ECE-15 %"``).
        keys: record keys that hold it, first match wins (``ece``, ``ece_15``, ...).
        scale: display factor (100 for a ``%`` column; records hold fractions).
        digits: decimals shown.
        higher_is_better: which end is emboldened as best.

    Example:
        >>> spec = MetricSpec("ece", "ECE-15 %", ("ece",), scale=100.0)
        >>> fmt_pm(0.0163, 0.0015, spec), KEY_METRICS[0].label
        ('1.63 ± 0.15', 'Acc %')
    """

    name: str
    label: str
    keys: tuple[str, ...]
    scale: float = 1.0
    digits: int = 2
    higher_is_better: bool = False


KEY_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("accuracy", "Acc %", ("accuracy", "acc"), 100.0, 2, True),
    MetricSpec("ece", "ECE-15 %", ("ece", "ece_15", "ece15"), 100.0),
    MetricSpec("ece_20", "ECE-20 %", ("ece_20b", "ece_20", "ece20"), 100.0),
    MetricSpec("adaece", "AdaECE %", ("adaece", "ada_ece", "adaptive_ece"), 100.0),
    MetricSpec("classwise_ece", "cw-ECE %", ("classwise_ece", "cw_ece", "cwece"), 100.0),
    MetricSpec("nll", "NLL", ("nll", "negative_log_likelihood"), 1.0, 3),
    MetricSpec("brier", "Brier", ("brier", "brier_score"), 1.0, 4),
    MetricSpec("smooth_ece", "smECE %", ("smooth_ece", "smece"), 100.0),
    MetricSpec("aurc", "AURC %", ("aurc",), 100.0),
)


def resolve_metrics(
    names: set[str], specs: Sequence[MetricSpec] = KEY_METRICS
) -> list[tuple[MetricSpec, str]]:
    """The (spec, record key) pairs present among ``names``, in display order.

    Args:
        names: the metric keys found in the records.
        specs: the metrics to show, in order; each may be stored under several keys.

    Returns:
        One ``(spec, key)`` per spec with a key in ``names`` (the first such key).

    Example:
        >>> [(s.name, k) for s, k in resolve_metrics({"nll", "ece_20b", "ece"})]
        [('ece', 'ece'), ('ece_20', 'ece_20b'), ('nll', 'nll')]
    """
    out = []
    for s in specs:
        key = next((k for k in s.keys if k in names), None)
        if key is not None:
            out.append((s, key))
    return out


def fmt_value(x: float, spec: MetricSpec) -> str:
    """``x`` in the metric's display units, or ``–`` for NaN.

    Example:
        >>> fmt_value(0.01234, KEY_METRICS[1]), fmt_value(float("nan"), KEY_METRICS[1])
        ('1.23', '–')
    """
    return "–" if math.isnan(x) else f"{x * spec.scale:.{spec.digits}f}"


def fmt_pm(mean: float, std: float, spec: MetricSpec) -> str:
    """``mean ± std`` in the metric's display units, or ``–`` for a NaN mean.

    Example:
        >>> fmt_pm(0.0163, 0.0015, KEY_METRICS[1])
        '1.63 ± 0.15'
    """
    if math.isnan(mean):
        return "–"
    return f"{fmt_value(mean, spec)} ± {fmt_value(std, spec)}"


def fmt_p(p: float) -> str:
    """A p-value in two significant digits (scientific below 0.001), ``n/a`` for NaN.

    Example:
        >>> fmt_p(0.04321), fmt_p(0.00012), fmt_p(float("nan"))
        ('0.043', '1.2e-04', 'n/a')
    """
    if math.isnan(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def settings_of(items: Sequence[Summary | PairedTest]) -> list[tuple[str, str]]:
    """The distinct (data, model) pairs of ``items``, in order of appearance.

    Args:
        items: summaries or paired tests.

    Returns:
        ``[(data, model), ...]``, one per setting, each table builder makes one table per pair.

    Example:
        >>> from gencal.bench.stats import summarise
        >>> recs = [{"data": d, "model": "mlp", "loss": "ce", "calibrator": "ts", "seed": 0,
        ...          "metrics": {"ece": 0.1}} for d in ("digits", "cifar10", "digits")]
        >>> settings_of(summarise(recs))
        [('cifar10', 'mlp'), ('digits', 'mlp')]
    """
    return list(dict.fromkeys((s.data, s.model) for s in items))


def _best_rows(values: list[float], higher: bool) -> set[int]:
    vals = np.array(values, dtype=float)
    if np.all(np.isnan(vals)):
        return set()
    best = np.nanmax(vals) if higher else np.nanmin(vals)
    return {i for i, v in enumerate(vals) if v == best}


def _mean_std_rows(
    summaries: Sequence[Summary],
    columns: Sequence[tuple[MetricSpec, str]],
    first: Callable[[Summary], list[str]],
) -> tuple[list[list[str]], set[tuple[int, int]]]:
    """Rows ``first(s) + [mean ± std of each column]`` and the best mean of each column (bold)."""
    rows = [
        first(s)
        + [fmt_pm(s.mean.get(k, math.nan), s.std.get(k, math.nan), spec) for spec, k in columns]
        for s in summaries
    ]
    lead = len(first(summaries[0])) if summaries else 0
    bold = {
        (i, j + lead)
        for j, (spec, k) in enumerate(columns)
        for i in _best_rows([s.mean.get(k, math.nan) for s in summaries], spec.higher_is_better)
    }
    return rows, bold


def metric_tables(
    summaries: Sequence[Summary], metrics: Sequence[tuple[MetricSpec, str]]
) -> list[Table]:
    """Main tables, one per (data, model): every row x calibrator, mean ± std, best in bold.

    Args:
        summaries: from :func:`gencal.bench.stats.summarise`, in display order.
        metrics: the ``(spec, key)`` pairs of :func:`resolve_metrics`.

    Returns:
        One :class:`Table` per (data, model) setting.

    Example:
        >>> from gencal.bench.stats import summarise
        >>> recs = [{"data": "digits", "model": "mlp", "loss": loss, "calibrator": cal, "seed": s,
        ...          "metrics": {"accuracy": acc + 0.01 * s, "ece": ece + 0.01 * s}}
        ...         for loss, acc in [("ce", 0.90), ("gce", 0.92)]
        ...         for cal, ece in [("none", 0.06), ("ts", 0.02)]
        ...         for s in (0, 1)]
        >>> metrics = resolve_metrics({"accuracy", "ece"})
        >>> (table,) = metric_tables(summarise(recs), metrics)
        >>> print(table.to_markdown())
        ### digits / mlp: every loss x every calibrator (mean ± std over seeds)
        <BLANKLINE>
        Best mean per column in bold (highest accuracy, lowest otherwise). % columns are x100.
        <BLANKLINE>
        | Loss | Calibrator | Seeds | Acc % | ECE-15 % |
        |---|---|---|---|---|
        | ce | none | 2 | 90.50 ± 0.71 | 6.50 ± 0.71 |
        | ce | ts | 2 | 90.50 ± 0.71 | **2.50 ± 0.71** |
        | gce | none | 2 | **92.50 ± 0.71** | 6.50 ± 0.71 |
        | gce | ts | 2 | **92.50 ± 0.71** | **2.50 ± 0.71** |
        <BLANKLINE>
    """
    tables = []
    for setting in settings_of(summaries):
        rows_s = [s for s in summaries if (s.data, s.model) == setting]
        cols = ["Loss", "Calibrator", "Seeds", *(spec.label for spec, _ in metrics)]
        rows, bold = _mean_std_rows(
            rows_s, metrics, lambda s: [s.loss, s.calibrator, str(len(s.seeds))]
        )
        tables.append(
            Table(
                f"{setting[0]} / {setting[1]}: every loss x every calibrator (mean ± std over seeds)",
                cols,
                rows,
                bold,
                "Best mean per column in bold (highest accuracy, lowest otherwise). "
                "% columns are x100.",
            )
        )
    return tables


def pivot_tables(
    summaries: Sequence[Summary], metrics: Sequence[tuple[MetricSpec, str]], which: Sequence[str]
) -> list[Table]:
    """Row (loss) x calibrator (columns) tables of single metrics, e.g. ECE-15.

    Args:
        summaries: from :func:`gencal.bench.stats.summarise`.
        metrics: the ``(spec, key)`` pairs of :func:`resolve_metrics`.
        which: the :attr:`MetricSpec.name` of each metric to pivot, e.g. ``("ece", "nll")``.

    Returns:
        One :class:`Table` per (data, model) and metric; the best mean of the table in bold.

    Example:
        >>> from gencal.bench.stats import summarise
        >>> recs = [{"data": "digits", "model": "mlp", "loss": loss, "calibrator": cal, "seed": s,
        ...          "metrics": {"accuracy": acc + 0.01 * s, "ece": ece + 0.01 * s}}
        ...         for loss, acc in [("ce", 0.90), ("gce", 0.92)]
        ...         for cal, ece in [("none", 0.06), ("ts", 0.02)]
        ...         for s in (0, 1)]
        >>> metrics = resolve_metrics({"accuracy", "ece"})
        >>> (table,) = pivot_tables(summarise(recs), metrics, which=("ece",))
        >>> print(table.to_markdown())
        ### digits / mlp: ECE-15 % by loss (rows) and calibrator (columns)
        <BLANKLINE>
        | Loss | none | ts |
        |---|---|---|
        | ce | 6.50 ± 0.71 | **2.50 ± 0.71** |
        | gce | 6.50 ± 0.71 | **2.50 ± 0.71** |
        <BLANKLINE>
    """
    tables = []
    for setting in settings_of(summaries):
        rows_s = [s for s in summaries if (s.data, s.model) == setting]
        losses = list(dict.fromkeys(s.loss for s in rows_s))
        cals = list(dict.fromkeys(s.calibrator for s in rows_s))
        cell = {(s.loss, s.calibrator): s for s in rows_s}
        for spec, k in metrics:
            if spec.name not in which:
                continue
            rows, means = [], []
            for loss in losses:
                row, mrow = [loss], []
                for c in cals:
                    s = cell.get((loss, c))
                    m = s.mean.get(k, math.nan) if s else math.nan
                    row.append(fmt_pm(m, s.std.get(k, math.nan), spec) if s else "–")
                    mrow.append(m)
                rows.append(row)
                means.append(mrow)
            flat = [v for r in means for v in r]
            bold = {
                (i // len(cals), i % len(cals) + 1) for i in _best_rows(flat, spec.higher_is_better)
            }
            tables.append(
                Table(
                    f"{setting[0]} / {setting[1]}: {spec.label} by loss (rows) and calibrator (columns)",
                    ["Loss", *cals],
                    rows,
                    bold,
                )
            )
    return tables


def paired_tables(
    tests: Sequence[PairedTest],
    metrics: Sequence[tuple[MetricSpec, str]],
    *,
    title: str = "paired tests of each loss against {reference} over seeds",
) -> list[Table]:
    """Wide tables of paired tests, one per (data, model); each cell ``Δ (p, p_Holm)``.

    Rows are the compared pairs (row + calibrator against reference row + calibrator), columns
    the metrics. The Holm adjustment is the one stored in each test
    (:func:`gencal.bench.stats.holm` within each metric and calibrator); a cell is bold when the
    Holm-adjusted p-value is below 0.05.

    Args:
        tests: the tests to show, in display order.
        metrics: the ``(spec, key)`` pairs of :func:`resolve_metrics`.
        title: the title after ``"<data> / <model>: "``; ``{reference}`` is replaced by the
            reference of the first test.

    Returns:
        One :class:`Table` per (data, model) setting that has tests.

    Example:
        >>> from gencal.bench.stats import adjust_holm, paired_tests, holm_family
        >>> recs = [{"data": "digits", "model": "mlp", "loss": loss, "calibrator": "ts",
        ...          "seed": s, "metrics": {"ece": ece}}
        ...         for loss, eces in [("ce", [0.05, 0.06, 0.07]), ("gce", [0.03, 0.05, 0.04])]
        ...         for s, ece in enumerate(eces)]
        >>> tests = adjust_holm(paired_tests(recs, ["ece"]), holm_family)
        >>> (table,) = paired_tables(tests, resolve_metrics({"ece"}))
        >>> table.columns
        ['Loss', 'vs', 'Calibrator', 'n', 'test', 'ECE-15 %']
        >>> table.rows
        [['gce', 'ce', 'ts', '3', 't-test', 'Δ -2.00 (p=0.074, Holm 0.074)']]
    """
    tables = []
    key_to_spec = {k: spec for spec, k in metrics}
    for setting in settings_of(tests):
        ts = [t for t in tests if (t.data, t.model) == setting and t.metric in key_to_spec]
        if not ts:
            continue
        idx = {(t.pair, t.metric): t for t in ts}
        pairs = list(dict.fromkeys(t.pair for t in ts))
        used = [(spec, k) for spec, k in metrics if any(t.metric == k for t in ts)]
        same_cal = all(t.calibrator == t.reference_calibrator for t in ts)
        if same_cal:
            cols = ["Loss", "vs", "Calibrator", "n", "test"]
        else:
            cols = ["Loss", "Calibrator", "vs loss", "vs calibrator", "n", "test"]
        lead = len(cols)
        cols += [spec.label for spec, _ in used]
        rows, bold = [], set()
        for i, pair in enumerate(pairs):
            first = next(t for t in ts if t.pair == pair)
            if same_cal:
                row = [first.loss, first.reference, first.calibrator]
            else:
                row = [first.loss, first.calibrator, first.reference, first.reference_calibrator]
            row += [str(first.n), first.test]
            for j, (spec, k) in enumerate(used):
                t = idx.get((pair, k))
                if t is None:
                    row.append("–")
                    continue
                d = (
                    "–"
                    if math.isnan(t.mean_diff)
                    else f"{t.mean_diff * spec.scale:+.{spec.digits}f}"
                )
                row.append(f"Δ {d} (p={fmt_p(t.p_value)}, Holm {fmt_p(t.p_holm)})")
                if not math.isnan(t.p_holm) and t.p_holm < ALPHA:
                    bold.add((i, j + lead))
            rows.append(row)
        ns = sorted({t.n for t in ts})
        tests_used = sorted({t.test for t in ts})
        tables.append(
            Table(
                f"{setting[0]} / {setting[1]}: " + title.format(reference=ts[0].reference),
                cols,
                rows,
                bold,
                "Δ = mean over seeds of (row − reference), runs paired by seed, same units as "
                f"the main table. Test: {' / '.join(tests_used)} (two-sided; paired t-test for "
                f"n < {WILCOXON_MIN_N} pairs, Wilcoxon signed-rank for n ≥ {WILCOXON_MIN_N}; "
                f"both in paired_tests.csv); n = {', '.join(map(str, ns))} pairs. "
                "Holm = p adjusted by Holm's method within each metric and calibrator, over the "
                f"{len({t.loss for t in ts})} rows tested against the reference. "
                f"Bold: Holm-adjusted p < {ALPHA}.",
            )
        )
    return tables


def group_tables(
    summaries: Sequence[Summary], metrics: Sequence[tuple[MetricSpec, str]]
) -> list[Table]:
    """Per class group (many/medium/few) tables for long-tailed runs.

    Args:
        summaries: from :func:`gencal.bench.stats.summarise`; only those with
            ``<metric>@<group>`` keys give columns.
        metrics: the ``(spec, key)`` pairs of :func:`resolve_metrics`.

    Returns:
        One :class:`Table` per (data, model) with group metrics (none for balanced runs).

    Example:
        >>> from gencal.bench.stats import summarise
        >>> recs = [{"data": "digits-lt10", "model": "mlp", "loss": "ce", "calibrator": "ts",
        ...          "seed": 0, "metrics": {"accuracy": 0.8, "accuracy@many": 0.9,
        ...                                 "accuracy@few": 0.5}}]
        >>> (table,) = group_tables(summarise(recs), resolve_metrics({"accuracy"}))
        >>> table.columns
        ['Loss', 'Calibrator', 'Acc % many', 'Acc % few']
        >>> table.rows
        [['ce', 'ts', '90.00 ± 0.00', '50.00 ± 0.00']]
    """
    tables = []
    for setting in settings_of(summaries):
        rows_s = [s for s in summaries if (s.data, s.model) == setting]
        names = {k for s in rows_s for k in s.mean}
        cols_spec = [
            (spec, f"{k}@{g}", g)
            for spec, k in metrics
            if spec.name in ("accuracy", "ece", "adaece", "classwise_ece", "nll")
            for g in GROUPS
            if f"{k}@{g}" in names
        ]
        if not cols_spec:
            continue
        cols = ["Loss", "Calibrator", *(f"{spec.label} {g}" for spec, _, g in cols_spec)]
        rows, bold = _mean_std_rows(
            rows_s, [(spec, k) for spec, k, _ in cols_spec], lambda s: [s.loss, s.calibrator]
        )
        tables.append(
            Table(
                f"{setting[0]} / {setting[1]}: per class group (many / medium / few shots)",
                cols,
                rows,
                bold,
                "Class groups as defined by the long-tailed split (many > 100, few < 20 "
                "training images per class, as in the long-tail literature, unless the data "
                "config says otherwise).",
            )
        )
    return tables


def fitted_tables(
    summaries: Sequence[Summary], fitted: Mapping[tuple[str, str, str, str], dict[str, list[float]]]
) -> list[Table]:
    """What each calibrator chose when fitted: median [min, max] over seeds per attribute.

    Args:
        summaries: from :func:`gencal.bench.stats.summarise` (gives the rows and their order).
        fitted: ``(data, model, row, calibrator) -> {attribute: [value per seed]}``, from
            :func:`gencal.bench.stats.fitted_attributes`.

    Returns:
        One :class:`Table` per (data, model) with a row per (row, calibrator) that has fitted
        scalar attributes; empty when no calibrator has any.

    Example:
        >>> from gencal.bench.stats import fitted_attributes, summarise
        >>> recs = [{"data": "digits", "model": "mlp", "loss": "ce", "calibrator": "ts",
        ...          "seed": s, "metrics": {"ece": 0.02}, "fitted": {"temperature_": t}}
        ...         for s, t in [(0, 1.4), (1, 1.6), (2, 1.5)]]
        >>> (table,) = fitted_tables(summarise(recs), fitted_attributes(recs))
        >>> table.columns, table.rows
        (['Loss', 'Calibrator', 'temperature_'], [['ce', 'ts', '1.5 [1.4, 1.6]']])
    """
    tables = []
    for setting in settings_of(summaries):
        rows_s = [
            s
            for s in summaries
            if (s.data, s.model) == setting and fitted.get((s.data, s.model, s.loss, s.calibrator))
        ]
        if not rows_s:
            continue
        attrs = list(
            dict.fromkeys(
                a for s in rows_s for a in fitted[(s.data, s.model, s.loss, s.calibrator)]
            )
        )
        rows = []
        for s in rows_s:
            vals = fitted[(s.data, s.model, s.loss, s.calibrator)]
            row = [s.loss, s.calibrator]
            for a in attrs:
                v = np.asarray(vals.get(a, []), dtype=float)
                v = v[~np.isnan(v)]
                row.append(
                    "–"
                    if v.size == 0
                    else f"{np.median(v):.4g} [{v.min():.4g}, {v.max():.4g}]"
                    if v.size > 1
                    else f"{v[0]:.4g}"
                )
            rows.append(row)
        tables.append(
            Table(
                f"{setting[0]} / {setting[1]}: what the calibrators chose when fitted",
                ["Loss", "Calibrator", *attrs],
                rows,
                set(),
                "Fitted scalar attributes of each calibrator (names ending in '_'), "
                "median [min, max] over seeds; each seed's calibrator is fitted on that run's "
                "calibration split.",
            )
        )
    return tables


def training_tables(
    recs: Sequence[Mapping[str, Any]], experiment_dir: Path, row_order: Sequence[str] = ()
) -> list[Table]:
    """How the runs trained (:func:`gencal.bench.training.training_summary`), per row.

    The final training accuracy and the calibration-split NLL at its lowest epoch and at the
    end, mean ± std over seeds: a held-out NLL that rose from its minimum while the training
    accuracy reached 1 marks the overconfident regime.

    Args:
        recs: evaluation records labelled by :func:`gencal.bench.cells.label_rows`.
        experiment_dir: the folder holding the runs (their ``logs/metrics.csv``).
        row_order: rows to list first (the others follow in the order of the records).

    Returns:
        One :class:`Table` per (data, model); empty when no run has a per-epoch log.
    """
    from gencal.bench.training import training_summary

    runs: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
    for r in recs:
        key = (str(r["data"]), str(r["model"]), str(r["loss"]))
        runs.setdefault(key, {}).setdefault(str(r["run"]), {})
    for by_run in runs.values():
        for run in by_run:
            by_run[run] = training_summary(Path(experiment_dir) / run)
    cols = [
        ("train_acc_final", "train acc % (end)", 100.0),
        ("cal_nll_best", "cal NLL (best)", 1.0),
        ("cal_nll_best_epoch", "best epoch", 1.0),
        ("cal_nll_final", "cal NLL (end)", 1.0),
    ]
    if any("test_nll_best_ckpt" in s for by_run in runs.values() for s in by_run.values()):
        cols += [
            ("test_nll_best_ckpt", "test NLL (best cal epoch)", 1.0),
            ("test_nll_final", "test NLL (end)", 1.0),
            ("test_acc_best_ckpt", "test acc % (best cal epoch)", 100.0),
            ("test_acc_final", "test acc % (end)", 100.0),
        ]
    tables = []
    rank = {name: i for i, name in enumerate(row_order)}
    ordered = sorted(runs.items(), key=lambda kv: rank.get(kv[0][2], len(rank)))
    for setting in dict.fromkeys((d, m) for d, m, _ in runs):
        rows = []
        for (d, m, loss), by_run in ordered:
            if (d, m) != setting or not any(by_run.values()):
                continue
            row = [loss, str(sum(1 for v in by_run.values() if v))]
            for name, _, scale in cols:
                v = np.array([s[name] for s in by_run.values() if name in s], dtype=float)
                fmt = ".1f" if name.endswith("epoch") else ".3g"
                row.append(
                    "–"
                    if v.size == 0
                    else f"{v.mean() * scale:{fmt}}"
                    + (f" ± {v.std(ddof=1) * scale:.2g}" if v.size > 1 else "")
                )
            rows.append(row)
        if rows:
            tables.append(
                Table(
                    f"{setting[0]} / {setting[1]}: training",
                    ["Row", "runs", *(c[1] for c in cols)],
                    rows,
                    set(),
                    "From each run's logs/metrics.csv: the accuracy on the last epoch's training "
                    "batches, and the calibration-split NLL at its lowest epoch (0-based) and at "
                    "the end; mean ± std over seeds."
                    + (
                        " Test columns: the model of the lowest calibration NLL (the run's "
                        "best_summary.json, from `gencal predict RUN --checkpoint best`) and the "
                        "final model."
                        if len(cols) > 4
                        else ""
                    ),
                )
            )
    return tables
