"""The per-epoch CSV log of a run (``<run_dir>/logs/metrics.csv``), kept whole across a resume.

Lightning's ``CSVLogger`` deletes an existing ``metrics.csv`` when it starts, so a run that is
interrupted and resumed from ``ckpt/last.ckpt`` would keep only the epochs trained after the
resume. :class:`ResumableCSVLogger` is that logger with its own file writer:

- on a resume it keeps the rows of the epochs the checkpoint covers and drops the rest (those
  epochs are trained again and log again). A row with an ``epoch`` value is kept when
  ``epoch < next_epoch``; a row without one (the learning-rate monitor's, logged at an epoch's
  start) when ``step < global_step``, the checkpoint's step count;
- it rewrites the whole file atomically at every flush (an epoch-level log is small), so a job
  killed mid-write never leaves a truncated line, and it flushes at every logging call by default.

The format is Lightning's (``\\r\\n`` line ends): one header of the sorted metric names
(``step`` among them), one row per logging call, empty cells for the metrics a row does not
have. Kept rows are written back as they were read.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment

from gencal.io import atomic_write_text

__all__ = ["MetricsCSVWriter", "ResumableCSVLogger", "ResumePoint", "kept_rows", "resume_point"]

METRICS_FILE = "metrics.csv"


@dataclass(frozen=True)
class ResumePoint:
    """Where a resumed run starts: the first epoch it trains and the steps already done.

    Example:
        >>> ResumePoint(next_epoch=3, global_step=210)  # epochs 0-2 done, 70 steps each
        ResumePoint(next_epoch=3, global_step=210)
    """

    next_epoch: int
    global_step: int


def resume_point(checkpoint: str | os.PathLike[str]) -> ResumePoint | None:
    """The resume point of a Lightning checkpoint saved at the end of an epoch.

    Args:
        checkpoint: a ``last.ckpt``; a missing file means a fresh start.

    Returns:
        ``ResumePoint(epoch + 1, global_step)`` of the checkpoint, or None when there is none.

    Example:
        >>> import tempfile, torch
        >>> path = Path(tempfile.mkdtemp()) / "last.ckpt"
        >>> resume_point(path) is None
        True
        >>> torch.save({"epoch": 4, "global_step": 355}, path)
        >>> resume_point(path)
        ResumePoint(next_epoch=5, global_step=355)
    """
    import torch

    path = Path(checkpoint)
    if not path.is_file():
        return None
    ckpt = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    return ResumePoint(int(ckpt["epoch"]) + 1, int(ckpt["global_step"]))


def kept_rows(path: str | os.PathLike[str], resume: ResumePoint | None) -> list[dict[str, str]]:
    """The rows of an existing log that a run resumed at ``resume`` keeps (none on a fresh start).

    Args:
        path: the ``metrics.csv`` (a missing file keeps nothing).
        resume: the resume point, or None for a fresh start.

    Returns:
        The kept rows as read (metric name -> cell text), empty cells left out.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "metrics.csv"
        >>> _ = path.write_text("epoch,lr,loss,step\\n,0.1,,0\\n0,,2.3,9\\n,0.05,,10\\n1,,1.9,19\\n")
        >>> kept_rows(path, ResumePoint(next_epoch=1, global_step=10))
        [{'lr': '0.1', 'step': '0'}, {'epoch': '0', 'loss': '2.3', 'step': '9'}]
        >>> kept_rows(path, None)
        []
    """
    path = Path(path)
    if resume is None or not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [
            {k: v for k, v in row.items() if k and v not in ("", None)}
            for row in csv.DictReader(fh)
        ]
    out = []
    for row in rows:
        if row.get("epoch"):
            keep = int(float(row["epoch"])) < resume.next_epoch
        else:
            keep = int(float(row.get("step", "0"))) < resume.global_step
        if keep:
            out.append(row)
    return out


class MetricsCSVWriter:
    """The file writer of :class:`ResumableCSVLogger` (Lightning's ``ExperimentWriter`` API).

    Args:
        log_dir: the folder of ``metrics.csv`` (and ``hparams.yaml``).
        rows: the rows to start from (the kept rows of a resumed run).

    Example:
        >>> import tempfile
        >>> w = MetricsCSVWriter(tempfile.mkdtemp(), rows=[{"epoch": "0", "step": "9"}])
        >>> w.log_metrics({"epoch": 1, "loss": 1.5}, step=19)
        >>> w.save()
        >>> Path(w.metrics_file_path).read_bytes().decode().splitlines()
        ['epoch,loss,step', '0,,9', '1,1.5,19']
    """

    NAME_HPARAMS_FILE = "hparams.yaml"

    def __init__(self, log_dir: str, rows: list[dict[str, Any]] | None = None) -> None:
        self.log_dir = log_dir
        self.metrics_file_path = os.path.join(log_dir, METRICS_FILE)
        self.rows: list[dict[str, Any]] = list(rows or [])
        self.hparams: dict[str, Any] = {}
        os.makedirs(log_dir, exist_ok=True)

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """The rows so far (Lightning's logger counts them when it is given no step)."""
        return self.rows

    def log_metrics(self, metrics_dict: dict[str, Any], step: int | None = None) -> None:
        """Record one row (tensors become Python numbers)."""
        row = {k: v.item() if hasattr(v, "item") else v for k, v in metrics_dict.items()}
        row["step"] = len(self.rows) if step is None else step
        self.rows.append(row)

    def save(self) -> None:
        """Write every row to ``metrics.csv`` (atomically)."""
        if not self.rows:
            return
        keys = sorted(set().union(*self.rows))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)  # "\r\n" line ends, as Lightning's
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.metrics_file_path, buf.getvalue())

    def log_hparams(self, params: dict[str, Any]) -> None:
        """Record hyperparameters in ``hparams.yaml`` (as Lightning's writer does)."""
        from lightning.pytorch.core.saving import save_hparams_to_yaml

        self.hparams.update(params)
        save_hparams_to_yaml(os.path.join(self.log_dir, self.NAME_HPARAMS_FILE), self.hparams)


class ResumableCSVLogger(CSVLogger):
    """Lightning's ``CSVLogger`` at ``<run_dir>/logs/metrics.csv`` that survives a resume.

    Args:
        run_dir: the run folder.
        resume: where the run resumes (:func:`resume_point`); None for a fresh start, which
            replaces any earlier log.
        flush_logs_every_n_steps: write the file every this many logging calls (default: every
            call; the log is epoch-level).

    Example:
        >>> import tempfile
        >>> logger = ResumableCSVLogger(Path(tempfile.mkdtemp()) / "run")
        >>> Path(logger.log_dir).name
        'logs'
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        resume: ResumePoint | None = None,
        flush_logs_every_n_steps: int = 1,
    ) -> None:
        super().__init__(
            str(run_dir), name="", version="logs", flush_logs_every_n_steps=flush_logs_every_n_steps
        )
        self._resume = resume

    @property
    @rank_zero_experiment
    def experiment(self) -> MetricsCSVWriter:
        """The file writer (created on first use, with the kept rows of a resumed run)."""
        if self._experiment is None:
            path = os.path.join(self.log_dir, METRICS_FILE)
            self._experiment = MetricsCSVWriter(self.log_dir, kept_rows(path, self._resume))
        return self._experiment
