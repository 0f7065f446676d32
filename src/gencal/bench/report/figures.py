"""The report's figures (matplotlib, Agg backend), written as PNG files.

- :func:`reliability_figures`: ``reliability_<data>__<model>__<row>.png``, one reliability
  diagram per calibrator for that row, with the test predictions of **all seeds pooled**: each
  seed's test logits are transformed by the calibrator fitted on that seed's calibration split
  (the state stored in the record) and the calibrated probabilities concatenated, so a diagram
  summarises the row/calibrator pair rather than one lucky or unlucky seed.
- :func:`scatter_figures`: ``acc_vs_ece_<data>__<model>.png``, accuracy against ECE-15, one
  point per seed (small) and per row/calibrator mean (large, with ±1 std bars).
"""

from __future__ import annotations

import io
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gencal.bench.report.tables import MetricSpec, settings_of
from gencal.bench.stats import Summary
from gencal.io import atomic_write_bytes

__all__ = ["file_slug", "reliability_figures", "scatter_figures"]


def file_slug(label: str) -> str:
    """A file-name-safe form of a row label.

    Example:
        >>> file_slug("focal(gamma=2) epochs=30")
        'focal-gamma=2-epochs=30'
    """
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "-", label).strip("-") or "row"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save_fig(fig: Any, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def _pooled_predictions(
    experiment_dir: Path, records: Sequence[dict[str, Any]]
) -> dict[tuple[str, str, str, str], tuple[np.ndarray, np.ndarray]]:
    """(data, model, row, calibrator) -> (probs, labels) pooled over seeds."""
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
        test = np.asarray(logits.test_logits, dtype=np.float64)
        for r in recs:
            probs = np.asarray(load_calibrator(r["calibrator_state"]).predict_proba(test))
            pooled[(r["data"], r["model"], r["loss"], r["calibrator"])].append(
                (probs, np.asarray(logits.test_labels))
            )
    return {
        k: (np.concatenate([p for p, _ in v]), np.concatenate([y for _, y in v]))
        for k, v in pooled.items()
    }


def reliability_figures(
    experiment_dir: Path,
    records: Sequence[dict[str, Any]],
    fig_dir: Path,
    n_bins: int = 15,
    calibrator_order: Sequence[str] = (),
) -> list[Path]:
    """One figure per (data, model, row) with one reliability diagram per calibrator.

    Args:
        experiment_dir: the folder holding the run folders (their ``logits.npz``).
        records: the (row-labelled) records; runs without ``logits.npz`` are skipped.
        fig_dir: where the PNG files go.
        n_bins: equal-width confidence bins.
        calibrator_order: calibrators to draw first.

    Returns:
        The paths written.

    Example:
        One finished run with synthetic logits, evaluated with two calibrators:

        >>> import tempfile
        >>> from gencal.bench import collect_records, evaluate_run
        >>> from gencal.io import atomic_save_npz
        >>> exp = Path(tempfile.mkdtemp()) / "demo"
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 3, 200)
        >>> z = 3.0 * (rng.normal(size=(200, 3)) + 2.0 * np.eye(3)[y])
        >>> _ = atomic_save_npz(exp / "toy__mlp__ce__s0" / "logits.npz", cal_logits=z[:100],
        ...                     cal_labels=y[:100], test_logits=z[100:], test_labels=y[100:],
        ...                     meta=np.array("{}"))
        >>> _ = evaluate_run(exp / "toy__mlp__ce__s0", ["none", "ts"])
        >>> paths = reliability_figures(exp, collect_records(exp), exp / "figures")
        >>> [p.name for p in paths], paths[0].read_bytes()[:4]
        (['reliability_toy__mlp__ce.png'], b'\x89PNG')
    """
    from gencal.metrics import plot_reliability, reliability_data

    _pyplot()
    pooled = _pooled_predictions(experiment_dir, records)
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for (data, model, row, cal), (p, y) in pooled.items():
        groups.setdefault((data, model, row), {})[cal] = reliability_data(p, y, n_bins=n_bins)
    paths = []
    for (data, model, row), by_cal in groups.items():
        order = [c for c in calibrator_order if c in by_cal] + [
            c for c in by_cal if c not in calibrator_order
        ]
        named = {f"{row} + {c}": by_cal[c] for c in order}
        fig = plot_reliability(
            named, title=f"{data} / {model} / {row}: test predictions pooled over seeds"
        )
        name = f"reliability_{data}__{model}__{file_slug(row)}.png"
        paths.append(_save_fig(fig, fig_dir / name))
    return paths


def scatter_figures(
    summaries: Sequence[Summary],
    records: Sequence[dict[str, Any]],
    metrics: Sequence[tuple[MetricSpec, str]],
    fig_dir: Path,
) -> list[Path]:
    """Accuracy vs ECE-15 per (data, model): seeds small, row/calibrator means ± std large.

    Args:
        summaries: from :func:`gencal.bench.stats.summarise` (means, stds and order).
        records: the (row-labelled) records, one point each.
        metrics: the ``(spec, key)`` pairs of :func:`~gencal.bench.report.tables.resolve_metrics`;
            nothing is drawn without accuracy and ECE.
        fig_dir: where the PNG files go.

    Returns:
        The paths written.

    Example:
        >>> import tempfile
        >>> from gencal.bench.report.tables import resolve_metrics
        >>> from gencal.bench.stats import summarise
        >>> recs = [{"data": "digits", "model": "mlp", "loss": loss, "calibrator": "ts",
        ...          "seed": s, "metrics": {"accuracy": 0.9 + 0.01 * s, "ece": 0.03}}
        ...         for loss in ("ce", "gce") for s in (0, 1)]
        >>> metrics = resolve_metrics({"accuracy", "ece"})
        >>> paths = scatter_figures(summarise(recs), recs, metrics, Path(tempfile.mkdtemp()))
        >>> [p.name for p in paths]
        ['acc_vs_ece_digits__mlp.png']
        >>> scatter_figures(summarise(recs), recs, resolve_metrics({"ece"}), Path("unused"))
        []
    """
    keys = {spec.name: k for spec, k in metrics}
    if "accuracy" not in keys or "ece" not in keys:
        return []
    plt = _pyplot()
    ka, ke = keys["accuracy"], keys["ece"]
    paths = []
    markers = "osD^vP*X<>"
    for setting in settings_of(summaries):
        rows_s = [s for s in summaries if (s.data, s.model) == setting]
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
