"""The report's text outputs: the one-screen summary, Markdown, LaTeX and the CSV files.

- :func:`format_summary`: the table printed by ``gencal demo`` / ``gencal bench``: accuracy,
  then ECE-15 and NLL after each calibrator, mean±std over seeds, ``*`` where the paired test
  against the reference loss is significant after Holm's correction.
- :func:`markdown_document`, :func:`latex_document`: ``report.md`` and ``tables.tex``.
- :func:`summary_csv`, :func:`tests_csv`: ``summary.csv`` and ``paired_tests.csv``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gencal.bench.report.tables import ALPHA, MetricSpec, Table, resolve_metrics, settings_of
from gencal.bench.stats import (
    WILCOXON_MIN_N,
    PairedTest,
    Summary,
    adjust_holm,
    holm_family,
    paired_tests,
    summarise,
)

__all__ = [
    "format_summary",
    "latex_document",
    "markdown_document",
    "summary_csv",
    "tests_csv",
]


def format_summary(
    records: Sequence[dict[str, Any]],
    loss_order: Sequence[str] = ("ce", "gce", "focal", "flsd53"),
    calibrator_order: Sequence[str] = ("none", "ts", "ats"),
    reference: str = "ce",
) -> str:
    """A one-screen text summary: accuracy, then ECE-15 (%) and NLL after each calibrator.

    Rows are configurations (:func:`gencal.bench.cells.label_rows`, using the records'
    ``config`` fields). Cells are mean±std over seeds; ``*`` marks a mean that differs from the
    reference row's (same calibrator) with a Holm-adjusted p < 0.05, the family being the losses
    tested against the reference for that metric and calibrator
    (:func:`gencal.bench.stats.holm_family`), as in the report's paired-test table.

    Args:
        records: evaluation records (from :func:`gencal.bench.collect_records`).
        loss_order: losses to list first.
        calibrator_order: calibrators to list first.
        reference: the loss every other one is tested against.

    Returns:
        The text, lines of at most about 100 characters for up to three calibrators.

    Example:
        >>> recs = [{"data": "digits", "model": "mlp", "loss": loss, "seed": s, "calibrator": "ts",
        ...          "run": f"{loss}{s}", "metrics": {"accuracy": 0.9, "ece": e + 0.001 * s**p}}
        ...         for loss, e, p in (("ce", 0.02, 1), ("gce", 0.01, 2)) for s in range(3)]
        >>> print(format_summary(recs))
        digits / mlp: 3 seeds, mean±std over seeds
                             |ECE-15 % after calibrator
        loss           acc % |         ts
        ce          90.0±0.0 |  2.10±0.10
        gce         90.0±0.0 |  1.17±0.21*
        * p < 0.05 vs ce (t-test; Wilcoxon if n >= 6), Holm over the 1 loss of each column.
        Lower is better.
        <BLANKLINE>
    """
    from gencal.bench.cells import label_rows

    records = label_rows(records, reference=reference)
    names = {k for r in records for k in r["metrics"]}
    metrics = {s.name: (s, k) for s, k in resolve_metrics(names)}
    summaries = summarise(records, loss_order, calibrator_order)
    keys = [k for _, k in metrics.values()]
    tests = adjust_holm(paired_tests(records, keys, reference), holm_family)
    by_key = {(t.data, t.model, t.calibrator, t.loss, t.metric): t for t in tests}

    def pm(mean: float, std: float, spec: MetricSpec, digits: int) -> str:
        if math.isnan(mean):
            return "–"
        return f"{mean * spec.scale:.{digits}f}±{std * spec.scale:.{digits}f}"

    lines = []
    for setting in settings_of(summaries):
        rows_s = [s for s in summaries if (s.data, s.model) == setting]
        cell = {(s.loss, s.calibrator): s for s in rows_s}
        losses = list(dict.fromkeys(s.loss for s in rows_s))
        cals = list(dict.fromkeys(s.calibrator for s in rows_s))
        seeds = sorted({x for s in rows_s for x in s.seeds})
        shown = [metrics[m] for m in ("ece", "nll") if m in metrics]
        width = max(9, *(len(loss) + 1 for loss in losses))
        lines.append(f"{setting[0]} / {setting[1]}: {len(seeds)} seeds, mean±std over seeds")
        # side by side for up to 3 calibrators, else one block per metric (fits ~100 columns)
        blocks = [shown] if len(cals) <= 3 else [[m] for m in shown]
        for bi, block in enumerate(blocks):
            widths = [13 if spec.scale == 1 else 12 for spec, _ in block]
            head1 = f"{'':<{width}}{'':>11}"
            head2 = f"{'loss':<{width}}{'acc %':>11}"
            for (spec, _), w in zip(block, widths):
                head1 += " |" + f"{spec.label + ' after calibrator':^{w * len(cals)}}"
                head2 += " |" + "".join(f"{c:>{w - 1}} " for c in cals)
            if bi:
                lines.append("")
            lines += [head1.rstrip(), head2.rstrip()]
            for loss in losses:
                line = f"{loss:<{width}}"
                s0 = cell.get((loss, "none")) or cell.get((loss, cals[0]))
                if "accuracy" in metrics and s0 is not None:
                    spec, k = metrics["accuracy"]
                    line += f"{pm(s0.mean.get(k, math.nan), s0.std.get(k, math.nan), spec, 1):>11}"
                else:
                    line += f"{'–':>11}"
                for (spec, k), w in zip(block, widths):
                    digits = min(spec.digits, 2) if spec.scale != 1 else 3
                    line += " |"
                    for c in cals:
                        s = cell.get((loss, c))
                        txt = (
                            pm(s.mean.get(k, math.nan), s.std.get(k, math.nan), spec, digits)
                            if s
                            else "–"
                        )
                        t = by_key.get((*setting, c, loss, k))
                        sig = t is not None and not math.isnan(t.p_holm) and t.p_holm < ALPHA
                        line += f"{txt + ('*' if sig else ' '):>{w}}"
                lines.append(line.rstrip())
        n = len({t.loss for t in tests if (t.data, t.model) == setting})
        lines.append(
            f"* p < {ALPHA} vs {reference} (t-test; Wilcoxon if n >= {WILCOXON_MIN_N}), "
            f"Holm over the {n} loss{'es' * (n != 1)} of each column."
        )
        lines.append("Lower is better.")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def markdown_document(
    title: str,
    intro: Sequence[str],
    summary: str,
    tables: Sequence[Table],
    figures: Sequence[tuple[Path, str]],
    figure_note: str = "",
) -> str:
    """``report.md``: title, intro, the text summary, every table, then the figures.

    Args:
        title: the ``#`` title.
        intro: paragraphs (Markdown).
        summary: the :func:`format_summary` text (shown as a code block).
        tables: the tables, in order.
        figures: ``(path, caption)`` of each figure, linked as ``figures/<name>``.
        figure_note: a line under the figures (e.g. why some were skipped).

    Returns:
        The Markdown text.

    Example:
        >>> table = Table("ECE", ["Loss", "ECE %"], [["ce", "3.10"]])
        >>> print(markdown_document("Demo", ["Two losses."], "ce  3.10", [table], []))
        # Demo
        <BLANKLINE>
        Two losses.
        <BLANKLINE>
        ```
        ce  3.10
        ```
        <BLANKLINE>
        ### ECE
        <BLANKLINE>
        | Loss | ECE % |
        |---|---|
        | ce | 3.10 |
        <BLANKLINE>
    """
    md = [f"# {title}", "", *intro, "", "```", summary.rstrip(), "```", ""]
    md += [t.to_markdown() for t in tables]
    if figures or figure_note:
        md.append("## Figures\n")
        md += [f"![{c}](figures/{p.name})\n" for p, c in figures]
        if figure_note:
            md.append(figure_note + "\n")
    return "\n".join(md)


def latex_document(tables: Sequence[Table]) -> str:
    """``tables.tex``: every table as a LaTeX float (needs ``\\usepackage{booktabs}``).

    Example:
        >>> print(latex_document([Table("T", ["a"], [["1"]])]).splitlines()[0])
        % gencal report tables; needs \\usepackage{booktabs}
    """
    return "\n".join(
        ["% gencal report tables; needs \\usepackage{booktabs}", ""]
        + [t.to_latex() for t in tables]
    )


def summary_csv(summaries: Sequence[Summary]) -> str:
    """``summary.csv``: data, model, row, calibrator, metric, n, mean, std, seeds (exact floats).

    Example:
        >>> s = Summary("d", "m", "ce", "ts", (0, 1), {"ece": 0.02}, {"ece": 0.01}, {"ece": 2})
        >>> print(summary_csv([s]), end="")
        data,model,loss,calibrator,metric,n,mean,std,seeds
        d,m,ce,ts,ece,2,0.02,0.01,0 1
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["data", "model", "loss", "calibrator", "metric", "n", "mean", "std", "seeds"])
    for s in summaries:
        for m in sorted(s.mean):
            w.writerow(
                [
                    s.data,
                    s.model,
                    s.loss,
                    s.calibrator,
                    m,
                    s.n[m],
                    repr(s.mean[m]),
                    repr(s.std[m]),
                    " ".join(map(str, s.seeds)),
                ]
            )
    return buf.getvalue()


def tests_csv(tests: Sequence[PairedTest]) -> str:
    """``paired_tests.csv``: one row per test, both p-values, the one used and its Holm value.

    Args:
        tests: the tests, with ``p_holm`` set (:func:`gencal.bench.stats.adjust_holm`).

    Returns:
        The CSV text, floats written with ``repr`` (exact round trip).

    Example:
        >>> t = PairedTest("d", "m", "ts", "gce", "ce", "ece", n=3, mean_diff=-0.02,
        ...                p_ttest=0.074, p_wilcoxon=math.nan, test="t-test", p_holm=0.074)
        >>> print(tests_csv([t]), end="")
        data,model,calibrator,loss,reference,reference_calibrator,metric,n,mean_diff,p_ttest,p_wilcoxon,test,p_value,p_holm
        d,m,ts,gce,ce,ts,ece,3,-0.02,0.074,nan,t-test,0.074,0.074
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "data",
            "model",
            "calibrator",
            "loss",
            "reference",
            "reference_calibrator",
            "metric",
            "n",
            "mean_diff",
            "p_ttest",
            "p_wilcoxon",
            "test",
            "p_value",
            "p_holm",
        ]
    )
    for t in tests:
        w.writerow(
            [
                t.data,
                t.model,
                t.calibrator,
                t.loss,
                t.reference,
                t.reference_calibrator,
                t.metric,
                t.n,
                repr(t.mean_diff),
                repr(t.p_ttest),
                repr(t.p_wilcoxon),
                t.test,
                repr(t.p_value),
                repr(t.p_holm),
            ]
        )
    return buf.getvalue()
