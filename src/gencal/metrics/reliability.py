"""Reliability diagrams: per-bin data and a matplotlib figure (Agg canvas, never a display).

``reliability_data(scores, labels, n_bins)`` bins the top-label confidence with the ECE
conventions (:mod:`gencal.metrics.binning`) and returns per-bin
mean confidence, accuracy and count. ``plot_reliability(data or {name: data}, path=None)`` draws,
for each model side by side, the accuracy bars with the gap to the diagonal and, below, the
confidence histogram; the legend carries the ECE. ``path`` ending in ``.png`` or ``.svg`` saves the
figure atomically. matplotlib is imported when a figure is drawn, not with this module.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gencal._checks import GencalInputError
from gencal.io import atomic_write_bytes
from gencal.metrics._inputs import Inputs, prepare
from gencal.metrics.binning import (
    bin_edges,
    calibration_error_from_bins,
    check_n_bins,
    equal_width_bin_sums,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ReliabilityData", "plot_reliability", "reliability_data"]


@dataclass(frozen=True)
class ReliabilityData:
    """Per-bin statistics of a reliability diagram (numpy arrays of length ``n_bins``).

    ``confidence`` / ``accuracy`` are ``nan`` for empty bins; ``edges`` has ``n_bins + 1``
    entries; ``ece`` is the top-label ECE (l1) of the same bins.

    Example:
        >>> import torch
        >>> d = reliability_data(torch.tensor([[0.9, 0.1], [0.3, 0.7]]), torch.tensor([0, 1]), 2)
        >>> d.edges.tolist(), d.count.tolist()
        ([0.0, 0.5, 1.0], [0, 2])
    """

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray
    ece: float
    mean_confidence: float
    overall_accuracy: float

    @property
    def n_samples(self) -> int:
        return int(self.count.sum())

    @property
    def n_bins(self) -> int:
        return len(self.count)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (lists, ``None`` for empty bins)."""

        def clean(a: np.ndarray) -> list:
            return [None if np.isnan(v) else float(v) for v in a]

        return {
            "edges": [float(e) for e in self.edges],
            "confidence": clean(self.confidence),
            "accuracy": clean(self.accuracy),
            "count": [int(c) for c in self.count],
            "ece": self.ece,
            "mean_confidence": self.mean_confidence,
            "overall_accuracy": self.overall_accuracy,
        }


def reliability_data(
    scores: Any,
    labels: Any,
    n_bins: int = 15,
    *,
    inputs: Inputs = "probs",
    validate_args: bool = True,
) -> ReliabilityData:
    """Per-bin mean confidence, accuracy and count of the top-label prediction.

    Args:
        scores: probabilities (default) or logits (``inputs="logits"``) of every class; for a
            binary problem also a single column, the positive class's score.
        labels: integer class indices.
        n_bins: number of equal-width bins (:mod:`gencal.metrics.binning`).
        inputs: ``"probs"`` or ``"logits"``.
        validate_args: check values (NaN/inf, simplex, label range).

    Shape:
        ``scores [N, K]`` (or ``[N]`` / ``[N, 1]``), ``labels [N]``.

    Returns:
        A :class:`ReliabilityData` (per-bin arrays of length ``n_bins``).

    Example:
        >>> import torch
        >>> d = reliability_data(torch.tensor([[0.9, 0.1], [0.3, 0.7]]), torch.tensor([0, 0]), 2)
        >>> d.count.tolist(), d.accuracy.tolist()
        ([0, 2], [nan, 0.5])
    """
    check_n_bins(n_bins)
    prep = prepare(scores, labels, inputs, validate_args=validate_args)
    count, s_conf, s_acc = equal_width_bin_sums(prep.conf, prep.correct, n_bins, prep.edge_dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = count.cpu().numpy()
        conf = np.where(c > 0, s_conf.cpu().numpy() / np.maximum(c, 1), np.nan)
        acc = np.where(c > 0, s_acc.cpu().numpy() / np.maximum(c, 1), np.nan)
    return ReliabilityData(
        edges=bin_edges(n_bins).numpy(),
        confidence=conf,
        accuracy=acc,
        count=c.astype(np.int64),
        ece=calibration_error_from_bins(count, s_conf, s_acc, "l1"),
        mean_confidence=float(prep.conf.to(torch.float64).mean()),
        overall_accuracy=float(prep.correct.to(torch.float64).mean()),
    )


_ACC_COLOR = "#3b6fb6"
_GAP_COLOR = "#d6604d"
_HIST_COLOR = "#7f7f7f"


def _draw_one(ax_rel, ax_hist, name: str, d: ReliabilityData) -> None:
    from matplotlib.patches import Patch

    lo, hi = d.edges[:-1], d.edges[1:]
    width = hi - lo
    filled = d.count > 0
    acc = np.where(filled, d.accuracy, 0.0)
    conf = np.where(filled, d.confidence, 0.0)
    ax_rel.plot([0, 1], [0, 1], ls="--", color="0.35", lw=1, label="perfect calibration", zorder=1)
    ax_rel.bar(
        lo[filled],
        acc[filled],
        width=width[filled],
        align="edge",
        color=_ACC_COLOR,
        edgecolor="white",
        linewidth=0.6,
        label="accuracy",
        zorder=2,
    )
    gap_bottom = np.minimum(acc, conf)
    gap_height = np.abs(conf - acc)
    ax_rel.bar(
        lo[filled],
        gap_height[filled],
        bottom=gap_bottom[filled],
        width=width[filled],
        align="edge",
        color=_GAP_COLOR,
        alpha=0.35,
        edgecolor=_GAP_COLOR,
        hatch="//",
        linewidth=0.6,
        label="gap to confidence",
        zorder=3,
    )
    ax_rel.set_xlim(0, 1)
    ax_rel.set_ylim(0, 1)
    ax_rel.set_title(name, fontsize=11)
    ax_rel.set_ylabel("accuracy")
    ax_rel.grid(True, color="0.9", lw=0.6, zorder=0)
    ax_rel.set_axisbelow(True)
    ece_handle = Patch(facecolor=_ACC_COLOR, edgecolor="white")
    ax_rel.legend(
        [ece_handle],
        [f"ECE = {100 * d.ece:.2f}%   n = {d.n_samples:,}"],
        loc="upper left",
        fontsize=8,
        frameon=True,
        framealpha=1.0,
        handlelength=1.0,
    )
    ax_rel.tick_params(labelbottom=False)

    frac = d.count / max(d.n_samples, 1)
    ax_hist.bar(
        lo, frac, width=width, align="edge", color=_HIST_COLOR, edgecolor="white", linewidth=0.6
    )
    ax_hist.axvline(d.overall_accuracy, color=_ACC_COLOR, lw=1.5, label="accuracy")
    ax_hist.axvline(d.mean_confidence, color=_GAP_COLOR, lw=1.5, ls="--", label="mean confidence")
    ax_hist.set_xlim(0, 1)
    ax_hist.set_ylim(0, max(float(frac.max()) * 1.1, 1e-3))
    ax_hist.set_xlabel("confidence")
    ax_hist.set_ylabel("fraction")
    ax_hist.grid(True, axis="y", color="0.9", lw=0.6)
    ax_hist.set_axisbelow(True)


def plot_reliability(
    data: ReliabilityData | Mapping[str, ReliabilityData],
    path: str | Path | None = None,
    *,
    title: str | None = None,
    panel_size: float = 3.4,
    dpi: int = 150,
    max_columns: int = 5,
) -> Figure:
    """Reliability diagram(s): one panel per model, accuracy bars + gap on top, histogram below.

    Args:
        data: one :class:`ReliabilityData` or ``{name: data}`` (insertion order = panel order,
            row by row).
        path: save as PNG or SVG (chosen by the suffix) atomically; the figure is returned
            either way (an Agg canvas is attached; nothing is shown).
        title: figure title.
        panel_size: size of one panel in inches.
        dpi: resolution.
        max_columns: panels per row; more models wrap onto further rows.

    Returns:
        The matplotlib ``Figure``.

    Example:
        >>> import torch
        >>> d = reliability_data(torch.tensor([[0.9, 0.1], [0.3, 0.7]]), torch.tensor([0, 1]))
        >>> fig = plot_reliability({"model": d})
        >>> len(fig.axes)
        2
        >>> len(plot_reliability({f"m{i}": d for i in range(7)}, max_columns=5).axes)  # 2 rows
        14
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    items = [("", data)] if isinstance(data, ReliabilityData) else list(data.items())
    if not items:
        raise GencalInputError("data: nothing to plot")
    for name, d in items:
        if not isinstance(d, ReliabilityData):
            raise GencalInputError(
                f"data[{name!r}]: expected ReliabilityData, got {type(d).__name__}"
            )
    fmt = None
    if path is not None:
        fmt = Path(path).suffix.lower().lstrip(".")
        if fmt not in ("png", "svg"):
            raise GencalInputError(f"path: expected a .png or .svg file name, got {str(path)!r}")
    n = len(items)
    if int(max_columns) < 1:
        raise GencalInputError(f"max_columns: expected >= 1, got {max_columns}")
    cols = min(n, int(max_columns))
    rows = -(-n // cols)
    width = max(panel_size * cols, 4.4)
    fig = Figure(figsize=(width, panel_size * 1.55 * rows), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2 * rows, cols, height_ratios=[3.0, 1.0] * rows)
    for i, (name, d) in enumerate(items):
        r, j = divmod(i, cols)
        ax_rel = fig.add_subplot(grid[2 * r, j])
        ax_hist = fig.add_subplot(grid[2 * r + 1, j], sharex=ax_rel)
        _draw_one(ax_rel, ax_hist, str(name), d)
        if j > 0:
            ax_rel.set_ylabel("")
            ax_hist.set_ylabel("")
    common = [
        Line2D([], [], ls="--", color="0.35", lw=1),
        Patch(facecolor=_ACC_COLOR, edgecolor="white"),
        Patch(facecolor=_GAP_COLOR, alpha=0.35, edgecolor=_GAP_COLOR, hatch="//"),
        Patch(facecolor=_HIST_COLOR, edgecolor="white"),
        Line2D([], [], color=_ACC_COLOR, lw=1.5),
        Line2D([], [], color=_GAP_COLOR, lw=1.5, ls="--"),
    ]
    names = [
        "perfect calibration",
        "accuracy per bin",
        "gap to mean confidence",
        "share of samples",
        "overall accuracy",
        "mean confidence",
    ]
    fig.legend(
        common,
        names,
        loc="outside lower center",
        ncols={1: 2, 2: 3}.get(cols, 6),
        fontsize=8,
        frameon=False,
    )
    if title:
        fig.suptitle(title, fontsize=12)
    if path is not None:
        buf = io.BytesIO()
        fig.savefig(
            buf, format=fmt, dpi=dpi, metadata={"Software": "gencal"} if fmt == "png" else None
        )
        atomic_write_bytes(path, buf.getvalue())
    return fig
