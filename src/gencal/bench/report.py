"""The benchmark report of an experiment: tables, paired tests, figures and one HTML page.

``build_report(experiment_dir)`` reads every record of the experiment (``<run>/eval/*.json``),
writes ``<experiment_dir>/results.csv`` and fills ``<experiment_dir>/report/`` with

- ``report.md`` — all tables in Markdown; ``tables.tex`` — the same tables in LaTeX (booktabs);
- ``results.csv`` — one row per run x calibrator; ``summary.csv`` — mean/std/n over seeds per
  (data, model, loss, calibrator) and metric; ``paired_tests.csv`` — every loss against CE per
  calibrator and metric (n, mean difference, t-test and Wilcoxon p-values, which test counts);
- ``figures/reliability_<data>__<model>__<loss>.png`` — one reliability diagram per calibrator for
  that loss; the test predictions of **all seeds are pooled** (each seed's test logits are
  transformed by the calibrator fitted on that seed's calibration split, using the state stored
  in the record, and the calibrated probabilities are concatenated) so each diagram summarises
  the loss/calibrator pair rather than one lucky or unlucky seed;
- ``figures/acc_vs_ece_<data>__<model>.png`` — accuracy against ECE-15, one point per seed (small)
  and per loss/calibrator mean (large, with ±1 std bars);
- ``index.html`` — one page with every table and every figure embedded as a base64 ``data:`` URI:
  it opens offline and can be mailed as a single file.

Tables show mean ± std over seeds (sample std, ddof=1) of the key metrics — accuracy, ECE with 15
and 20 equal-width bins, AdaECE (15 equal-mass bins), classwise ECE, NLL, Brier, smooth ECE,
AURC — for every loss x every calibrator, best mean per column in bold (highest accuracy, lowest
otherwise). Percent-valued metrics are multiplied by 100. For long-tailed runs (records with
``<metric>@many/medium/few``) a per-group table is added.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
import os
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gencal.bench.aggregate import collect_records, records_to_csv
from gencal.bench.stats import WILCOXON_MIN_N, PairedTest, Summary, paired_tests, summarise
from gencal.bench.tables import Table
from gencal.io import atomic_write_bytes, atomic_write_text

__all__ = [
    "KEY_METRICS",
    "MetricSpec",
    "build_report",
    "format_summary",
    "metric_tables",
    "resolve_metrics",
]

GROUPS = ("many", "medium", "few")


@dataclass(frozen=True)
class MetricSpec:
    """A metric shown in the tables: the record keys it may have, label, scale and direction."""

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
    """The (spec, record key) pairs present among ``names``, in display order."""
    out = []
    for s in specs:
        key = next((k for k in s.keys if k in names), None)
        if key is not None:
            out.append((s, key))
    return out


def _fmt(x: float, spec: MetricSpec) -> str:
    return "–" if math.isnan(x) else f"{x * spec.scale:.{spec.digits}f}"


def _fmt_pm(mean: float, std: float, spec: MetricSpec) -> str:
    if math.isnan(mean):
        return "–"
    return f"{_fmt(mean, spec)} ± {_fmt(std, spec)}"


def _fmt_p(p: float) -> str:
    if math.isnan(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def _setting(s: Summary | PairedTest) -> tuple[str, str]:
    return (s.data, s.model)


def _best_rows(values: list[float], higher: bool) -> set[int]:
    vals = np.array(values, dtype=float)
    if np.all(np.isnan(vals)):
        return set()
    best = np.nanmax(vals) if higher else np.nanmin(vals)
    return {i for i, v in enumerate(vals) if v == best}


def metric_tables(
    summaries: Sequence[Summary], metrics: Sequence[tuple[MetricSpec, str]]
) -> list[Table]:
    """Main tables (one per data/model): every loss x calibrator, mean ± std, best in bold."""
    tables = []
    for setting in dict.fromkeys(_setting(s) for s in summaries):
        rows_s = [s for s in summaries if _setting(s) == setting]
        cols = ["Loss", "Calibrator", "Seeds", *(spec.label for spec, _ in metrics)]
        rows = [
            [s.loss, s.calibrator, str(len(s.seeds))]
            + [
                _fmt_pm(s.mean.get(k, math.nan), s.std.get(k, math.nan), spec)
                for spec, k in metrics
            ]
            for s in rows_s
        ]
        bold = set()
        for j, (spec, k) in enumerate(metrics):
            for i in _best_rows([s.mean.get(k, math.nan) for s in rows_s], spec.higher_is_better):
                bold.add((i, j + 3))
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
    """Loss (rows) x calibrator (columns) tables of single metrics, e.g. ECE-15."""
    tables = []
    for setting in dict.fromkeys(_setting(s) for s in summaries):
        rows_s = [s for s in summaries if _setting(s) == setting]
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
                    row.append(_fmt_pm(m, s.std.get(k, math.nan), spec) if s else "–")
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
    tests: Sequence[PairedTest], metrics: Sequence[tuple[MetricSpec, str]]
) -> list[Table]:
    """Wide tables: each loss vs CE per calibrator, cells 'Δ mean diff (p)'; p < 0.05 in bold."""
    tables = []
    key_to_spec = {k: spec for spec, k in metrics}
    for setting in dict.fromkeys(_setting(t) for t in tests):
        ts = [t for t in tests if _setting(t) == setting and t.metric in key_to_spec]
        if not ts:
            continue
        idx = {(t.calibrator, t.loss, t.metric): t for t in ts}
        pairs = list(dict.fromkeys((t.calibrator, t.loss) for t in ts))
        cols = ["Loss vs " + ts[0].reference, "Calibrator", "n", "test"]
        cols += [key_to_spec[k].label for _, k in metrics if any(t.metric == k for t in ts)]
        used = [(spec, k) for spec, k in metrics if any(t.metric == k for t in ts)]
        rows, bold = [], set()
        for i, (cal, loss) in enumerate(pairs):
            first = next(t for t in ts if (t.calibrator, t.loss) == (cal, loss))
            row = [loss, cal, str(first.n), first.test]
            for j, (spec, k) in enumerate(used):
                t = idx.get((cal, loss, k))
                if t is None:
                    row.append("–")
                    continue
                d = (
                    "–"
                    if math.isnan(t.mean_diff)
                    else f"{t.mean_diff * spec.scale:+.{spec.digits}f}"
                )
                row.append(f"Δ {d} (p={_fmt_p(t.p_value)})")
                if not math.isnan(t.p_value) and t.p_value < 0.05:
                    bold.add((i, j + 4))
            rows.append(row)
        tables.append(
            Table(
                f"{setting[0]} / {setting[1]}: paired tests of each loss against "
                f"{ts[0].reference} over seeds",
                cols,
                rows,
                bold,
                "Δ = mean over seeds of (loss − reference), same units as the main table; "
                f"p = two-sided paired t-test (n < {WILCOXON_MIN_N}) or Wilcoxon signed-rank "
                f"(n ≥ {WILCOXON_MIN_N}; t-test p in paired_tests.csv too). "
                "Bold: p < 0.05 (no multiple-comparison correction).",
            )
        )
    return tables


def group_tables(
    summaries: Sequence[Summary], metrics: Sequence[tuple[MetricSpec, str]]
) -> list[Table]:
    """Per class group (many/medium/few) tables for long-tailed runs."""
    tables = []
    for setting in dict.fromkeys(_setting(s) for s in summaries):
        rows_s = [s for s in summaries if _setting(s) == setting]
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
        rows = [
            [s.loss, s.calibrator]
            + [
                _fmt_pm(s.mean.get(k, math.nan), s.std.get(k, math.nan), spec)
                for spec, k, _ in cols_spec
            ]
            for s in rows_s
        ]
        bold = set()
        for j, (spec, k, _) in enumerate(cols_spec):
            for i in _best_rows([s.mean.get(k, math.nan) for s in rows_s], spec.higher_is_better):
                bold.add((i, j + 2))
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


# --------------------------------------------------------------------------- figures


def _pooled_predictions(
    experiment_dir: Path, records: Sequence[dict[str, Any]]
) -> dict[tuple[str, str, str, str], tuple[np.ndarray, np.ndarray]]:
    """(data, model, loss, calibrator) -> (probs, labels) pooled over seeds (see module doc)."""
    from gencal.calibration import load_calibrator
    from gencal.train import load_run

    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_run[r["run"]].append(r)
    pooled: dict[tuple[str, str, str, str], list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    for run, recs in by_run.items():
        rd = experiment_dir / run
        if not (rd / "logits.npz").is_file():
            continue
        logits = load_run(rd)
        for r in recs:
            cal = load_calibrator(r["calibrator_state"])
            probs = np.asarray(cal.predict_proba(np.asarray(logits.test_logits, dtype=np.float64)))
            pooled[(r["data"], r["model"], r["loss"], r["calibrator"])].append(
                (probs, np.asarray(logits.test_labels))
            )
    return {
        k: (np.concatenate([p for p, _ in v]), np.concatenate([y for _, y in v]))
        for k, v in pooled.items()
    }


def _save_fig(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def reliability_figures(
    experiment_dir: Path,
    records: Sequence[dict[str, Any]],
    fig_dir: Path,
    n_bins: int = 15,
    calibrator_order: Sequence[str] = (),
) -> list[Path]:
    """One figure per (data, model, loss) with one reliability diagram per calibrator."""
    from gencal.metrics import plot_reliability, reliability_data

    pooled = _pooled_predictions(experiment_dir, records)
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for (data, model, loss, cal), (p, y) in pooled.items():
        groups.setdefault((data, model, loss), {})[cal] = reliability_data(p, y, n_bins=n_bins)
    paths = []
    for (data, model, loss), by_cal in groups.items():
        order = [c for c in calibrator_order if c in by_cal] + [
            c for c in by_cal if c not in calibrator_order
        ]
        named = {f"{loss} + {c}": by_cal[c] for c in order}
        fig = plot_reliability(
            named, title=f"{data} / {model} / {loss}: test predictions pooled over seeds"
        )
        paths.append(_save_fig(fig, fig_dir / f"reliability_{data}__{model}__{loss}.png"))
    return paths


def scatter_figures(
    summaries: Sequence[Summary],
    records: Sequence[dict[str, Any]],
    metrics: Sequence[tuple[MetricSpec, str]],
    fig_dir: Path,
) -> list[Path]:
    """Accuracy vs ECE-15 per (data, model): seeds small, loss/calibrator means large."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    keys = {spec.name: k for spec, k in metrics}
    if "accuracy" not in keys or "ece" not in keys:
        return []
    ka, ke = keys["accuracy"], keys["ece"]
    paths = []
    markers = "osD^vP*X<>"
    for setting in dict.fromkeys(_setting(s) for s in summaries):
        rows_s = [s for s in summaries if _setting(s) == setting]
        losses = list(dict.fromkeys(s.loss for s in rows_s))
        cals = list(dict.fromkeys(s.calibrator for s in rows_s))
        colours = plt.get_cmap("tab10")
        fig, ax = plt.subplots(figsize=(6.4, 4.6))
        for s in rows_s:
            c = colours(losses.index(s.loss) % 10)
            mk = markers[cals.index(s.calibrator) % len(markers)]
            pts = [
                (r["metrics"].get(ke, math.nan), r["metrics"].get(ka, math.nan))
                for r in records
                if (r["data"], r["model"], r["loss"], r["calibrator"])
                == (s.data, s.model, s.loss, s.calibrator)
            ]
            if pts:
                xs, ys = zip(*pts)
                ax.scatter(
                    np.array(xs) * 100, np.array(ys) * 100, color=c, marker=mk, s=14, alpha=0.35
                )
            ax.errorbar(
                s.mean.get(ke, math.nan) * 100,
                s.mean.get(ka, math.nan) * 100,
                xerr=s.std.get(ke, math.nan) * 100,
                yerr=s.std.get(ka, math.nan) * 100,
                color=c,
                marker=mk,
                markersize=8,
                markeredgecolor="black",
                capsize=2,
                linestyle="none",
            )
        for i, loss in enumerate(losses):
            ax.plot([], [], color=colours(i % 10), marker="o", linestyle="none", label=loss)
        for j, cal in enumerate(cals):
            ax.plot(
                [], [], color="grey", marker=markers[j % len(markers)], linestyle="none", label=cal
            )
        ax.set_xlabel("ECE-15 (%)  (lower is better)")
        ax.set_ylabel("Accuracy (%)  (higher is better)")
        ax.set_title(f"{setting[0]} / {setting[1]}: accuracy vs ECE (seeds and means ± std)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=2, loc="best")
        paths.append(_save_fig(fig, fig_dir / f"acc_vs_ece_{setting[0]}__{setting[1]}.png"))
    return paths


# --------------------------------------------------------------------------- outputs


def _ordered(tests: list[PairedTest], summaries: Sequence[Summary]) -> list[PairedTest]:
    """Tests in the display order of the summaries: loss, then calibrator."""
    losses = list(dict.fromkeys(s.loss for s in summaries))
    cals = list(dict.fromkeys(s.calibrator for s in summaries))
    return sorted(
        tests,
        key=lambda t: (
            t.data,
            t.model,
            losses.index(t.loss) if t.loss in losses else len(losses),
            cals.index(t.calibrator) if t.calibrator in cals else len(cals),
        ),
    )


def _summary_csv(summaries: Sequence[Summary]) -> str:
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


def _tests_csv(tests: Sequence[PairedTest]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "data",
            "model",
            "calibrator",
            "loss",
            "reference",
            "metric",
            "n",
            "mean_diff",
            "p_ttest",
            "p_wilcoxon",
            "test",
            "p_value",
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
                t.metric,
                t.n,
                repr(t.mean_diff),
                repr(t.p_ttest),
                repr(t.p_wilcoxon),
                t.test,
                repr(t.p_value),
            ]
        )
    return buf.getvalue()


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}.tw{overflow-x:auto}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f0f0f0}td:first-child,td:nth-child(2){text-align:left}
tbody tr:nth-child(even){background:#fafafa}
.note{color:#555;font-size:13px;max-width:60em}img{max-width:100%;border:1px solid #eee}
figure{margin:1em 0}figcaption{color:#555;font-size:13px}code{background:#f4f4f4;padding:0 3px}
"""


def _html_page(title: str, intro: list[str], sections: list[tuple[str, list[str]]]) -> str:
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        *[f"<p>{p}</p>" for p in intro],
    ]
    toc = "".join(
        f"<li><a href='#s{i}'>{html.escape(name)}</a></li>" for i, (name, _) in enumerate(sections)
    )
    parts.append(f"<ul>{toc}</ul>")
    for i, (name, body) in enumerate(sections):
        parts.append(f"<h2 id='s{i}'>{html.escape(name)}</h2>")
        parts.extend(body)
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _img(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{html.escape(caption)} (<code>figures/{html.escape(path.name)}</code>)"
        "</figcaption></figure>"
    )


def build_report(
    experiment_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    records: Sequence[dict[str, Any]] | None = None,
    figures: bool = True,
    loss_order: Sequence[str] = ("ce", "gce", "focal", "flsd53"),
    calibrator_order: Sequence[str] = ("none", "ts", "ats"),
    reference: str = "ce",
) -> Path:
    """Write the report of an experiment (see the module docstring); return the report folder."""
    exp = Path(experiment_dir)
    out = Path(out_dir) if out_dir is not None else exp / "report"
    recs = list(records) if records is not None else collect_records(exp)
    if not recs:
        from gencal._checks import GencalInputError

        raise GencalInputError(
            f"no results records under {exp}: evaluate the runs first (`gencal bench ...` or `gencal report {exp} --evaluate`)"
        )
    names = {k for r in recs for k in r["metrics"]}
    metrics = resolve_metrics(names)
    summaries = summarise(recs, loss_order, calibrator_order)
    tests = _ordered(paired_tests(recs, [k for _, k in metrics], reference=reference), summaries)

    main_t = metric_tables(summaries, metrics)
    pivot_t = pivot_tables(summaries, metrics, ("ece", "nll"))
    test_t = paired_tables(tests, metrics)
    group_t = group_tables(summaries, metrics)

    results_csv = records_to_csv(recs)
    atomic_write_text(exp / "results.csv", results_csv)
    atomic_write_text(out / "results.csv", results_csv)
    atomic_write_text(out / "summary.csv", _summary_csv(summaries))
    atomic_write_text(out / "paired_tests.csv", _tests_csv(tests))

    all_tables = main_t + pivot_t + test_t + group_t
    experiments = sorted({r["experiment"] for r in recs})
    title = f"gencal report: {', '.join(experiments)}"
    seeds = sorted({r["seed"] for r in recs})
    losses = list(dict.fromkeys(s.loss for s in summaries))
    cals = list(dict.fromkeys(s.calibrator for s in summaries))
    intro_txt = [
        f"Runs: {len({r['run'] for r in recs})}; losses: {', '.join(losses)}; calibrators: "
        f"{', '.join(cals)}; seeds: {', '.join(map(str, seeds))}.",
        "Each calibrator is fitted on the run's calibration split and evaluated on its test split. "
        "Tables: mean ± std (ddof=1) over seeds; paired tests pair runs by seed.",
        "Evidence for the open questions about GCE: is its gain over CE significant (paired "
        "tests over seeds, with n and the test used); how does raw GCE compare with the focal "
        "variants, and what is left after post-hoc calibration (every loss x every calibrator); "
        "what do the predictions look like (reliability diagrams).",
    ]
    summary_txt = format_summary(recs, loss_order, calibrator_order, reference)
    md = [f"# {title}", "", *intro_txt, "", "```", summary_txt.rstrip(), "```", ""]
    md += [t.to_markdown() for t in all_tables]
    tex = ["% gencal report tables; needs \\usepackage{booktabs}", ""] + [
        t.to_latex() for t in all_tables
    ]

    fig_paths: list[tuple[Path, str]] = []
    fig_note = ""
    if figures:
        import matplotlib

        matplotlib.use("Agg", force=False)
        fig_dir = out / "figures"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            for p in scatter_figures(summaries, recs, metrics, fig_dir):
                fig_paths.append(
                    (p, "Accuracy vs ECE-15: small points are seeds, large are means ± std")
                )
            try:
                for p in reliability_figures(exp, recs, fig_dir, calibrator_order=calibrator_order):
                    fig_paths.append(
                        (
                            p,
                            f"Reliability diagrams ({p.stem.split('__')[-1]}), 15 bins, "
                            "test predictions pooled over seeds",
                        )
                    )
            except ImportError as exc:  # metrics/calibration/train missing in a stripped install
                fig_note = f"Reliability diagrams skipped: {exc}"
        md.append("## Figures\n")
        md += [f"![{c}](figures/{p.name})\n" for p, c in fig_paths]
        if fig_note:
            md.append(fig_note + "\n")

    atomic_write_text(out / "report.md", "\n".join(md))
    atomic_write_text(out / "tables.tex", "\n".join(tex))

    intro_html = [html.escape(t) for t in intro_txt] + [
        "Files beside this page: <code>report.md</code>, <code>tables.tex</code>, "
        "<code>results.csv</code>, <code>summary.csv</code>, <code>paired_tests.csv</code>, "
        "<code>figures/</code>."
    ]
    sections = [
        ("Summary", [f"<pre>{html.escape(summary_txt)}</pre>"]),
        ("Every loss x every calibrator", [t.to_html() for t in main_t]),
        ("ECE-15 and NLL by loss and calibrator", [t.to_html() for t in pivot_t]),
        ("Paired tests against cross-entropy", [t.to_html() for t in test_t]),
    ]
    if group_t:
        sections.append(("Per class group (long-tailed)", [t.to_html() for t in group_t]))
    if figures:
        body = [_img(p, c) for p, c in fig_paths]
        if fig_note:
            body.append(f"<p class='note'>{html.escape(fig_note)}</p>")
        sections.append(("Figures", body))
    atomic_write_text(out / "index.html", _html_page(title, intro_html, sections))
    return out


def format_summary(
    records: Sequence[dict[str, Any]],
    loss_order: Sequence[str] = ("ce", "gce", "focal", "flsd53"),
    calibrator_order: Sequence[str] = ("none", "ts", "ats"),
    reference: str = "ce",
) -> str:
    """A one-screen text summary: accuracy, then ECE-15 (%) and NLL after each calibrator.

    Cells are mean±std over seeds; ``*`` marks a mean that differs from the reference loss's
    (same calibrator) with p < 0.05 in the paired test over seeds.
    """
    names = {k for r in records for k in r["metrics"]}
    metrics = {s.name: (s, k) for s, k in resolve_metrics(names)}
    summaries = summarise(records, loss_order, calibrator_order)
    tests = {
        (t.data, t.model, t.calibrator, t.loss, t.metric): t
        for t in paired_tests(records, [k for _, k in metrics.values()], reference=reference)
    }

    def pm(mean: float, std: float, spec: MetricSpec, digits: int) -> str:
        if math.isnan(mean):
            return "–"
        return f"{mean * spec.scale:.{digits}f}±{std * spec.scale:.{digits}f}"

    lines = []
    for setting in dict.fromkeys(_setting(s) for s in summaries):
        rows_s = [s for s in summaries if _setting(s) == setting]
        cell = {(s.loss, s.calibrator): s for s in rows_s}
        losses = list(dict.fromkeys(s.loss for s in rows_s))
        cals = list(dict.fromkeys(s.calibrator for s in rows_s))
        seeds = sorted({x for s in rows_s for x in s.seeds})
        shown = [metrics[m] for m in ("ece", "nll") if m in metrics]
        lines.append(f"{setting[0]} / {setting[1]}: {len(seeds)} seeds, mean±std over seeds")
        # side by side for up to 3 calibrators, else one block per metric (fits ~100 columns)
        blocks = [shown] if len(cals) <= 3 else [[m] for m in shown]
        for bi, block in enumerate(blocks):
            widths = [13 if spec.scale == 1 else 12 for spec, _ in block]
            head1 = f"{'':<9}{'':>11}"
            head2 = f"{'loss':<9}{'acc %':>11}"
            for (spec, _), w in zip(block, widths):
                head1 += " |" + f"{spec.label + ' after calibrator':^{w * len(cals)}}"
                head2 += " |" + "".join(f"{c:>{w - 1}} " for c in cals)
            if bi:
                lines.append("")
            lines += [head1.rstrip(), head2.rstrip()]
            for loss in losses:
                line = f"{loss:<9}"
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
                        t = tests.get((*setting, c, loss, k))
                        sig = t is not None and not math.isnan(t.p_value) and t.p_value < 0.05
                        line += f"{txt + ('*' if sig else ' '):>{w}}"
                lines.append(line.rstrip())
        lines.append(
            f"* p < 0.05 vs {reference}, paired over seeds (t-test; Wilcoxon for n >= "
            f"{WILCOXON_MIN_N}). Lower ECE/NLL is better."
        )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
