"""gencal.train: Lightning training with checkpoints/resume, saved logits and sweeps.

- :func:`train_run` trains one run from a config (or resumes it, or returns at once when it
  has finished) and returns its folder; :func:`load_run` reads its saved logits.
- :func:`compose_config` composes the Hydra configs in :func:`configs_dir`
  (``experiment=demo``, ``loss=gce``, ...); :func:`run_dir` names a run's folder.
- :func:`run_sweep` runs every point of ``cfg.grid`` (local worker processes or SLURM).
- ``python -m gencal.train.app`` is the Hydra app (``-m`` for multirun sweeps).

Heavy imports (torch, Lightning) happen on first use.
"""

from gencal.train.config import compose_config, config_groups, configs_dir, run_dir, run_name
from gencal.train.run import RunLogits, RunNotFinishedError, is_finished, load_run, train_run
from gencal.train.sweep import expand_grid, run_sweep

__all__ = [
    "RunLogits",
    "RunNotFinishedError",
    "compose_config",
    "config_groups",
    "configs_dir",
    "expand_grid",
    "is_finished",
    "load_run",
    "run_dir",
    "run_name",
    "run_sweep",
    "train_run",
]
