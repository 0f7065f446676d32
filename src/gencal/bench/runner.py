"""``gencal bench``: train the grid, evaluate every run with every calibrator, aggregate, report.

Every step skips finished work: ``run_sweep`` returns at once for runs whose ``logits.npz``
exists, evaluation reuses existing records, and the report is rebuilt from the records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gencal._checks import GencalInputError
from gencal.bench.aggregate import collect_records, write_results_csv
from gencal.bench.evaluate import EvalSummary, evaluate_runs, parse_calibrators
from gencal.bench.report.settings import ReportSettings

__all__ = ["BenchResult", "compose_config", "experiment_dir", "grid_losses", "run_bench"]


def compose_config(overrides: Sequence[str] = ()) -> Any:
    """Compose ``config.yaml`` with Hydra overrides (``gencal.train.config.compose_config``).

    Example:
        >>> str(compose_config(["experiment=demo"]).experiment)
        'demo'
    """
    from gencal.train.config import compose_config as _compose

    return _compose(list(overrides))


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    try:
        v = cfg.get(key, default) if hasattr(cfg, "get") else getattr(cfg, key, default)
    except Exception:
        return default
    return default if v is None else v


def experiment_dir(cfg: Any) -> Path:
    """``<output_root>/<experiment>`` of a composed config.

    Example:
        >>> experiment_dir({"experiment": "demo", "output_root": "runs"}).as_posix()
        'runs/demo'
    """
    exp = _get(cfg, "experiment")
    if isinstance(exp, Mapping) or hasattr(exp, "keys"):
        exp = exp.get("name")
    if not exp:
        raise GencalInputError("the config has no experiment name (set experiment=<name>)")
    return Path(str(_get(cfg, "output_root", "runs"))) / str(exp)


@dataclass
class BenchResult:
    """What :func:`run_bench` did: the folders, the evaluation and the report.

    ``run_dirs`` are the finished runs of the grid and ``pending`` the SLURM runs submitted but
    not finished; ``records`` are the evaluation records of ``run_dirs``; ``report_dir`` is
    ``None`` when no report was written; ``loss_order`` and ``calibrator_order`` are the
    report's row and column order. :func:`run_bench`'s example shows one made by a run.

    Example:
        >>> from gencal.bench.evaluate import EvalSummary
        >>> result = BenchResult(Path("runs/demo"), [], EvalSummary(), None, [], [], ["ce"], ["ts"])
        >>> result.report_dir is None, result.evaluation.fit_calls
        (True, 0)
    """

    experiment_dir: Path
    run_dirs: list[Path]
    evaluation: EvalSummary
    report_dir: Path | None
    records: list[dict[str, Any]]
    pending: list[Path]  # SLURM runs submitted but not finished yet
    loss_order: list[str]
    calibrator_order: list[str]


def run_bench(
    cfg: Any,
    *,
    workers: int | None = None,
    launcher: str = "local",
    redo_corrupt: bool = False,
    report: bool = True,
    figures: bool = True,
    progress: bool = True,
) -> BenchResult:
    """Run the grid of ``cfg`` (``gencal.train.run_sweep``), evaluate, aggregate and report.

    Args:
        cfg: a composed config (:func:`compose_config`): its ``grid``, ``calibrators`` and
            ``report`` nodes say what to train, evaluate and write.
        workers: parallel training processes.
        launcher: ``"local"`` or ``"slurm"`` (submitted runs are reported when finished).
        redo_corrupt: recompute corrupt records.
        report: write the report.
        figures: draw its figures.
        progress: show progress bars.

    Returns:
        The folders, the evaluation summary, the report folder and the records of this grid.

    Raises:
        GencalInputError: a run did not finish (local launcher).

    Example:
        A grid of two runs whose ``logits.npz`` exist (written by hand here, with synthetic
        logits) is not trained again: it is evaluated and aggregated.

        >>> import json, tempfile
        >>> import numpy as np
        >>> from gencal.io import atomic_save_npz
        >>> from gencal.train import expand_grid, run_dir
        >>> cfg = compose_config(["experiment=demo", "grid={loss: [ce, gce], seed: [0]}",
        ...                       "calibrators=[none,ts]", f"output_root={tempfile.mkdtemp()}"])
        >>> rng = np.random.default_rng(0)
        >>> for point in expand_grid(cfg):
        ...     y = rng.integers(0, 10, 200)
        ...     z = rng.normal(size=(200, 10)) + 3.0 * np.eye(10)[y]
        ...     meta = {"config": json.loads(json.dumps(dict(point), default=str))}
        ...     _ = atomic_save_npz(run_dir(point) / "logits.npz", cal_logits=z[:100],
        ...                         cal_labels=y[:100], test_logits=z[100:], test_labels=y[100:],
        ...                         meta=np.array(json.dumps(meta)))
        >>> result = run_bench(cfg, report=False, progress=False)
        >>> len(result.run_dirs), len(result.evaluation.written), result.report_dir
        (2, 4, None)
        >>> result.loss_order, result.calibrator_order
        (['ce', 'gce'], ['none', 'ts'])
        >>> (result.experiment_dir / "results.csv").is_file()
        True
    """
    from gencal.train import run_sweep

    exp = experiment_dir(cfg)
    calibrators = parse_calibrators(_to_plain(_get(cfg, "calibrators")))
    run_dirs = [
        Path(p) for p in run_sweep(cfg, workers=workers, launcher=launcher, progress=progress)
    ]
    unfinished = [d for d in run_dirs if not (d / "logits.npz").is_file()]
    pending: list[Path] = []
    if unfinished and launcher == "slurm":  # submitted, not waited for: report what is done
        pending = unfinished
        run_dirs = [d for d in run_dirs if d not in unfinished]
    elif unfinished:
        raise GencalInputError(
            f"{len(unfinished)} run(s) did not finish (no logits.npz): "
            + ", ".join(str(d) for d in unfinished[:5])
            + (" ..." if len(unfinished) > 5 else "")
            + "; see their logs, then rerun the same command to resume them"
        )
    ev = evaluate_runs(run_dirs, calibrators, redo_corrupt=redo_corrupt, progress=progress)
    all_records = collect_records(exp)
    records = [r for r in all_records if r["run"] in {d.name for d in run_dirs}]
    write_results_csv(exp, all_records)
    report_dir = None
    settings = ReportSettings.from_config(cfg)
    loss_order = grid_losses(cfg) or settings.loss_order
    cal_order = [c.name for c in calibrators]
    if report and records:
        from gencal.bench.report import build_report

        report_dir = build_report(
            exp,
            figures=figures,
            settings=settings,
            loss_order=loss_order,
            calibrator_order=cal_order,
        )
    return BenchResult(exp, run_dirs, ev, report_dir, records, pending, loss_order, cal_order)


def grid_losses(cfg: Any) -> list[str]:
    """The loss names of ``cfg.grid`` in grid order (the report's row order).

    Example:
        >>> grid_losses({"grid": {"loss": ["ce", "gce"], "seed": [0, 1]}})
        ['ce', 'gce']
    """
    grid = _to_plain(_get(cfg, "grid")) or {}
    losses = grid.get("loss") or grid.get("losses") or []
    if isinstance(losses, str):
        losses = [s.strip() for s in losses.split(",")]
    out = []
    for item in losses:
        if isinstance(item, Mapping):
            item = item.get("name")
        if item:
            out.append(str(item))
    return out


def _to_plain(x: Any) -> Any:
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(x, (DictConfig, ListConfig)):
            return OmegaConf.to_container(x, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return x
