"""The benchmark report of an experiment: tables, paired tests, figures and one HTML page.

:func:`build_report` reads every record of the experiment (``<run>/eval/*.json``), groups the
runs into rows by configuration (:mod:`gencal.bench.cells`), writes
``<experiment_dir>/results.csv`` and fills ``<experiment_dir>/report/`` with ``index.html``
(:mod:`.html`), ``report.md`` and ``tables.tex`` (:mod:`.text`), ``results.csv``,
``summary.csv``, ``paired_tests.csv`` and ``figures/`` (:mod:`.figures`). The tables are built
in :mod:`.tables`; the study's wording and comparisons come from its config
(:class:`~gencal.bench.report.settings.ReportSettings`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from gencal._checks import GencalInputError
from gencal.bench.aggregate import collect_records, find_run_dirs, records_to_csv
from gencal.bench.cells import label_rows
from gencal.bench.report.figures import reliability_figures, scatter_figures
from gencal.bench.report.html import Section, figure_html, page_html
from gencal.bench.report.settings import ReportSettings
from gencal.bench.report.tables import (
    KEY_METRICS,
    MetricSpec,
    Table,
    fitted_tables,
    group_tables,
    metric_tables,
    paired_tables,
    pivot_tables,
    resolve_metrics,
    training_tables,
)
from gencal.bench.report.text import (
    format_summary,
    latex_document,
    markdown_document,
    summary_csv,
    tests_csv,
)
from gencal.bench.stats import (
    PairedTest,
    adjust_holm,
    fitted_attributes,
    holm_family,
    paired_tests,
    parse_comparisons,
    summarise,
)
from gencal.io import atomic_write_text

__all__ = [
    "KEY_METRICS",
    "MetricSpec",
    "ReportSettings",
    "Table",
    "build_report",
    "format_summary",
    "resolve_metrics",
]


def build_report(
    experiment_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    records: Sequence[dict[str, Any]] | None = None,
    figures: bool = True,
    settings: ReportSettings | None = None,
    loss_order: Sequence[str] | None = None,
    calibrator_order: Sequence[str] | None = None,
    reference: str | None = None,
) -> Path:
    """Write the report of an experiment and return the report folder.

    Args:
        experiment_dir: ``<output_root>/<experiment>``, holding the run folders.
        out_dir: the report folder; default ``<experiment_dir>/report``.
        records: the records to report; default every record of the experiment.
        figures: draw the figures (needs matplotlib; the reliability diagrams need the runs'
            ``logits.npz``).
        settings: title, prose, reference and comparisons; default read from the runs' saved
            config (its ``report:`` node).
        loss_order, calibrator_order, reference: override those of ``settings``.

    Returns:
        The report folder.

    Example:
        >>> import tempfile
        >>> from gencal.bench.records import record_path, write_record
        >>> exp = Path(tempfile.mkdtemp()) / "study"
        >>> for loss, seed in [(lo, s) for lo in ("ce", "gce") for s in (0, 1)]:
        ...     run = f"digits__mlp__{loss}__s{seed}"
        ...     rec = {"experiment": "study", "data": "digits", "model": "mlp", "loss": loss,
        ...            "seed": seed, "calibrator": "ts", "run": run, "calibrator_state": {},
        ...            "fit_time_s": 0.0, "n_cal": 10, "n_test": 10, "num_classes": 3,
        ...            "metrics": {"accuracy": 0.9, "ece": 0.01 * (seed + 2 + (loss == "ce"))}}
        ...     _ = write_record(record_path(exp / run, "ts"), rec)
        >>> out = build_report(exp, figures=False)
        >>> sorted(p.name for p in out.iterdir())
        ['index.html', 'paired_tests.csv', 'report.md', 'results.csv', 'summary.csv', 'tables.tex']
        >>> print(next(line for line in (out / "report.md").read_text().splitlines()
        ...            if line.startswith("| gce | ts |")))
        | gce | ts | 2 | **90.00 ± 0.00** | **2.50 ± 0.71** |
    """
    exp = Path(experiment_dir)
    out = Path(out_dir) if out_dir is not None else exp / "report"
    raw = list(records) if records is not None else collect_records(exp)
    if not raw:
        raise GencalInputError(
            f"no results records under {exp}: evaluate the runs first "
            f"(`gencal bench ...` or `gencal report {exp} --evaluate`)"
        )
    st = settings or ReportSettings.from_runs(find_run_dirs(exp) if exp.is_dir() else [])
    loss_order = list(loss_order or st.loss_order)
    cal_order = list(calibrator_order or st.calibrator_order)
    ref = reference or st.reference

    recs = label_rows(raw, exp, reference=ref)
    metrics = resolve_metrics({k for r in recs for k in r["metrics"]})
    summaries = summarise(recs, loss_order, cal_order)
    tests, compared = _paired_tests(recs, summaries, metrics, ref, st.comparisons)
    parts = [  # (section, html id prefix, tables), in page order
        ("Every loss x every calibrator", "main", metric_tables(summaries, metrics)),
        (
            "ECE-15 and NLL by loss and calibrator",
            "pivot",
            pivot_tables(summaries, metrics, ("ece", "nll")),
        ),
        (f"Paired tests against {ref}", "tests", paired_tables(tests, metrics)),
        (
            "Comparisons of the study",
            "cmp",
            paired_tables(compared, metrics, title="paired tests of the study's comparisons"),
        ),
        ("What the calibrators chose", "fit", fitted_tables(summaries, fitted_attributes(recs))),
        ("Per class group (long-tailed)", "group", group_tables(summaries, metrics)),
        ("Training", "train", training_tables(recs, exp, [s.loss for s in summaries])),
    ]
    parts = [p for p in parts if p[2]]
    tables = [t for _, _, ts in parts for t in ts]

    results_csv = records_to_csv(raw)
    atomic_write_text(exp / "results.csv", results_csv)
    atomic_write_text(out / "results.csv", results_csv)
    atomic_write_text(out / "summary.csv", summary_csv(summaries))
    atomic_write_text(out / "paired_tests.csv", tests_csv(tests + compared))

    title = st.title or f"gencal report: {', '.join(sorted({r['experiment'] for r in recs}))}"
    intro = _intro(recs, summaries, st.description)
    summary = format_summary(recs, loss_order, cal_order, ref)
    figs, fig_note = (
        _figures(exp, out, recs, summaries, metrics, cal_order) if figures else ([], "")
    )
    md = markdown_document(title, intro, summary, tables, figs, fig_note)
    atomic_write_text(out / "report.md", md)
    atomic_write_text(out / "tables.tex", latex_document(tables))

    sections = [Section("Summary", [f"<pre>{escape(summary)}</pre>"])]
    sections += [
        Section(name, [t.to_html(f"{pre}{i}") for i, t in enumerate(ts)]) for name, pre, ts in parts
    ]
    if figures:
        note = [f"<p class='note'>{escape(fig_note)}</p>"] if fig_note else []
        blocks = [figure_html(p, c, embed=st.embed_figures) for p, c in figs]
        sections.append(Section("Figures", blocks + note))
    files = (
        "Files beside this page: <code>report.md</code>, <code>tables.tex</code>, "
        "<code>results.csv</code>, <code>summary.csv</code>, <code>paired_tests.csv</code>"
        + (", <code>figures/</code>." if figures else ".")
    )
    page = page_html(title, [escape(p) for p in intro] + [files], sections)
    atomic_write_text(out / "index.html", page)
    return out


def _paired_tests(
    recs: Sequence[dict[str, Any]],
    summaries: Sequence[Any],
    metrics: Sequence[tuple[MetricSpec, str]],
    reference: str,
    comparisons: Sequence[Any],
) -> tuple[list[PairedTest], list[PairedTest]]:
    """Tests against the reference (in table order) and of the configured comparisons.

    Each list is Holm-adjusted within :func:`gencal.bench.stats.holm_family`.
    """
    keys = [k for _, k in metrics]
    rank = {(s.data, s.model, s.loss, s.calibrator): i for i, s in enumerate(summaries)}
    tests = sorted(
        paired_tests(recs, keys, reference),
        key=lambda t: rank.get((t.data, t.model, t.loss, t.calibrator), len(rank)),
    )
    compared = paired_tests(recs, keys, comparisons=parse_comparisons(comparisons, recs))
    return (
        adjust_holm(tests, holm_family),
        adjust_holm(compared, holm_family),
    )


def _intro(
    recs: Sequence[dict[str, Any]], summaries: Sequence[Any], description: Sequence[str]
) -> list[str]:
    seeds = sorted({r["seed"] for r in recs})
    rows = list(dict.fromkeys(s.loss for s in summaries))
    cals = list(dict.fromkeys(s.calibrator for s in summaries))
    return [
        f"Runs: {len({r['run'] for r in recs})}; rows: {', '.join(rows)}; calibrators: "
        f"{', '.join(cals)}; seeds: {', '.join(map(str, seeds))}.",
        "Each calibrator is fitted on the run's calibration split and evaluated on its test "
        "split. A row is one training configuration: runs whose configs differ only in the seed "
        "are pooled, and the keys that tell rows apart are part of the row label. Tables: "
        "mean ± std (ddof=1) over seeds; paired tests pair runs by seed.",
        *description,
    ]


def _figures(
    exp: Path,
    out: Path,
    recs: Sequence[dict[str, Any]],
    summaries: Sequence[Any],
    metrics: Sequence[tuple[MetricSpec, str]],
    cal_order: Sequence[str],
) -> tuple[list[tuple[Path, str]], str]:
    fig_dir = out / "figures"
    paths: list[tuple[Path, str]] = []
    note = ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for p in scatter_figures(summaries, recs, metrics, fig_dir):
            paths.append((p, "Accuracy vs ECE-15: small points are seeds, large are means ± std"))
        try:
            for p in reliability_figures(exp, recs, fig_dir, calibrator_order=cal_order):
                paths.append(
                    (
                        p,
                        f"Reliability diagrams ({p.stem.split('__')[-1]}), 15 bins, "
                        "test predictions pooled over seeds",
                    )
                )
        except ImportError as exc:  # metrics/calibration/train missing in a stripped install
            note = f"Reliability diagrams skipped: {exc}"
    return paths, note
