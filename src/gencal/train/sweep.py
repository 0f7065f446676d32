"""Sweeps: every point of ``cfg.grid`` as one run, locally (worker processes) or on SLURM.

``grid`` maps keys to lists of values, e.g. ``{loss: [ce, gce, focal], seed: [0, 1, 2]}``. A key
that names a config group (``data model loss trainer``) picks that group's option (composed
with the same overrides as ``cfg``, so an experiment's settings on top of the group, such as
``loss.reduction: sum``, still apply); any other key (``seed``, ``loss.gamma``,
``optimizer.lr``) sets a value. Each point's folder is named by its config's digest
(:func:`gencal.train.config.run_name`), so points that differ in any semantic key never share
a folder.

Finished runs of the same config (``logits.npz`` present) are skipped, so a second ``run_sweep`` does no work; an
interrupted run resumes from its ``last.ckpt``.
"""

from __future__ import annotations

import copy
import itertools
import os
import pickle
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from gencal._checks import GencalInputError
from gencal.train.config import CONFIG_GROUPS, compose_many, override_key, run_dir, to_config
from gencal.train.schema import coerce_loss_numbers, validate_config

__all__ = [
    "SweepError",
    "compose_sweep",
    "expand_grid",
    "grid_overrides",
    "run_sweep",
    "slurm_parameters",
    "split_sweep_overrides",
    "sweep_worker",
]


class SweepError(RuntimeError):
    """Some runs of a sweep failed (the others finished); ``failures`` maps run folder -> error.

    Example:
        >>> err = SweepError({"runs/demo/a": "NonFiniteLossError: non-finite training loss"})
        >>> print(err)
        1 run(s) of the sweep failed:
          runs/demo/a: NonFiniteLossError: non-finite training loss
    """

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        lines = "\n".join(f"  {k}: {v}" for k, v in failures.items())
        super().__init__(f"{len(failures)} run(s) of the sweep failed:\n{lines}")


def split_sweep_overrides(overrides: Sequence[str]) -> tuple[list[str], dict[str, list[Any]]]:
    """Split Hydra overrides into plain ones and sweeps (``loss=ce,gce``, ``seed=range(3)``).

    A sweep is Hydra's multirun syntax: a comma list, ``range(...)`` or ``choice(...)``. Its
    values form a grid key, so ``gencal bench loss=ce,gce seed=0,1`` and ``gencal train -m
    loss=ce,gce seed=0,1`` describe the same sweep as ``grid: {loss: [ce, gce], seed: [0, 1]}``.

    Example:
        >>> split_sweep_overrides(["experiment=demo", "loss=ce,gce", "seed=range(2)"])
        (['experiment=demo'], {'loss': ['ce', 'gce'], 'seed': [0, 1]})
    """
    plain: list[str] = []
    grid: dict[str, list[Any]] = {}
    for ov in _parse(overrides):
        if ov.is_sweep_override():
            grid[ov.key_or_group.lstrip("+~")] = list(ov.sweep_iterator())
        else:
            plain.append(ov.input_line)
    return plain, grid


def _parse(overrides: Sequence[str]) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_overrides([str(o) for o in overrides])
    except Exception as exc:
        raise GencalInputError(f"cannot parse the overrides {list(overrides)}: {exc}") from exc


def compose_sweep(overrides: Sequence[str]) -> DictConfig:
    """Compose the plain overrides and put the sweeps (multirun syntax) into ``cfg.grid``.

    The command line wins over the experiment's grid: a sweep given here replaces the grid entry
    of its key, and a plain override of a grid key (``seed=0``) pins it to that one value. The
    experiment's other grid keys stay.

    Example:
        >>> cfg = compose_sweep(["experiment=demo", "seed=0,1"])
        >>> dict(cfg.grid)["seed"], list(dict(cfg.grid)["loss"])
        ([0, 1], ['ce', 'gce', 'focal', 'flsd53'])
    """
    plain, sweeps = split_sweep_overrides(overrides)
    cfg = compose_many([plain])[0]
    grid = OmegaConf.to_container(cfg.get("grid") or {}, resolve=True)
    pinned = {
        ov.key_or_group.lstrip("+~"): [ov.value()]
        for ov in _parse(plain)
        if ov.key_or_group.lstrip("+~") in grid and not ov.is_delete()
    }
    if sweeps or pinned:
        grid.update({**pinned, **sweeps})
        with open_dict(cfg):
            cfg.grid = grid
    return cfg


def grid_overrides(cfg: Any, given: Sequence[str] = ()) -> list[str]:
    """The config's grid as Hydra sweep overrides (``loss=ce,gce``), for ``gencal train -m``.

    Keys already swept or set in ``given`` are left out, so the command line wins.

    Example:
        >>> grid_overrides({"grid": {"loss": ["ce", "gce"], "seed": [0, 1]}}, ["seed=3"])
        ['loss=ce,gce']
    """
    grid = cfg.get("grid") or {}
    if OmegaConf.is_config(grid):
        grid = OmegaConf.to_container(grid, resolve=True)
    taken = {override_key(str(o)) for o in given}
    return [f"{k}={','.join(str(v) for v in vals)}" for k, vals in grid.items() if k not in taken]


def expand_grid(cfg: Any) -> list[DictConfig]:
    """One config per point of ``cfg.grid`` (cartesian product, in the grid's key order).

    Args:
        cfg: a config (``DictConfig``, dict, or list of overrides) with a ``grid``; without
            one the result is ``[cfg]``.

    Returns:
        The validated configs; each one's ``overrides`` ends with its grid values.

    Raises:
        GencalInputError: a grid entry is not a non-empty list, or two points would share a
            run folder.
        ConfigError: a point's config cannot run.

    Example:
        >>> cfgs = expand_grid(["experiment=demo", "grid={loss: [ce, focal], seed: [0, 1]}"])
        >>> [(c.loss.name, c.seed) for c in cfgs]
        [('ce', 0), ('ce', 1), ('focal', 0), ('focal', 1)]
        >>> cfgs[2].loss.gamma, list(cfgs[2].overrides)[-2:]
        (3.0, ['loss=focal', 'seed=0'])
    """
    cfg = to_config(cfg)
    grid = cfg.get("grid") or {}
    if not grid:
        return [cfg]
    keys = [str(k) for k in grid]
    values = []
    for k in keys:
        v = (
            OmegaConf.to_container(grid[k], resolve=True)
            if OmegaConf.is_config(grid[k])
            else grid[k]
        )
        if not isinstance(v, list) or not v:
            raise GencalInputError(f"grid.{k}: expected a non-empty list of values, got {v!r}")
        values.append(v)
    base = [str(o) for o in (cfg.get("overrides") or []) if override_key(str(o)) not in keys]
    choices = [(k, str(v)) for k, vals in zip(keys, values) if k in CONFIG_GROUPS for v in vals]
    composed = compose_many([[*base, f"{k}={v}"] for k, v in choices])
    group_nodes = {(k, v): c[k] for (k, v), c in zip(choices, composed)}
    base_tree = OmegaConf.to_container(cfg, resolve=False)
    group_trees = {
        kv: OmegaConf.to_container(node, resolve=False) for kv, node in group_nodes.items()
    }
    out = []
    for combo in itertools.product(*values):
        tree = copy.deepcopy(base_tree)
        for k, v in zip(keys, combo):
            if k in CONFIG_GROUPS:
                tree[k] = copy.deepcopy(group_trees[(k, str(v))])
        tree["overrides"] = [*base, *(f"{k}={v}" for k, v in zip(keys, combo))]
        c = OmegaConf.create(tree)
        for k, v in zip(keys, combo):
            if k not in CONFIG_GROUPS:
                OmegaConf.update(c, k, v, merge=True, force_add=True)
        validate_config(c)
        coerce_loss_numbers(c)
        out.append(c)
    names = [str(run_dir(c)) for c in out]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise GencalInputError(f"grid: several points share a run folder: {dup[:3]}")
    return out


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _uses_gpu(cfg: DictConfig) -> bool:
    acc = str(cfg.trainer.get("accelerator", "auto"))
    if acc in ("gpu", "cuda"):
        return True
    if acc == "auto":
        import torch

        return torch.cuda.is_available()
    return False


def sweep_worker(container: dict[str, Any]) -> str:
    """Train one run from a plain-dict config (picklable entry point for workers and SLURM).

    Args:
        container: the run's resolved config as plain Python containers.

    Returns:
        The run folder, as a string (see :func:`gencal.train.train_run`).

    Example:
        A finished run (``logits.npz`` written by hand here) is returned without training:

        >>> import tempfile
        >>> import numpy as np
        >>> from gencal.train import compose_config
        >>> cfg = compose_config(["experiment=demo", f"output_root={tempfile.mkdtemp()}"])
        >>> run_dir(cfg).mkdir(parents=True)
        >>> np.savez(run_dir(cfg) / "logits.npz", cal_logits=np.eye(2), cal_labels=[0, 1],
        ...          test_logits=np.eye(2), test_labels=[0, 1], meta=np.array("{}"))
        >>> sweep_worker(OmegaConf.to_container(cfg, resolve=True)) == str(run_dir(cfg))
        True
    """
    from gencal.train.run import train_run

    return str(train_run(OmegaConf.create(container)))


def _init_worker() -> None:
    import warnings

    warnings.filterwarnings("ignore", message=".*LeafSpec.*")


def run_sweep(
    cfg: Any,
    workers: int | None = None,
    launcher: str = "local",
    *,
    progress: bool = True,
    dry_run: bool = False,
) -> list[Path]:
    """Run every point of ``cfg.grid`` that has not finished; return all run folders.

    ``launcher="local"``: ``workers`` processes (default: one per core for CPU training, one
    for GPU training), each with ``cores // workers`` torch threads unless ``trainer.threads``
    is set. With one worker
    the runs train in this process. ``launcher="slurm"``: submit the unfinished runs as a
    SLURM job array with submitit (parameters from ``cfg.slurm`` and the trainer's devices and
    nodes, see :func:`slurm_parameters`) and return without waiting. ``dry_run=True`` trains
    nothing and returns the folders (SLURM: after building the executor's parameters).
    Failed runs raise :class:`SweepError` after the others have finished.

    Args:
        cfg: a config with a ``grid`` (``DictConfig``, dict, or list of overrides).
        workers: local worker processes (``None``: as above).
        launcher: ``"local"`` or ``"slurm"``.
        progress: show a progress bar over runs.
        dry_run: train nothing, submit nothing.

    Returns:
        The run folders of every grid point, in :func:`expand_grid`'s order.

    Raises:
        SweepError: some runs failed.
        GencalInputError: an unknown launcher, or a bad grid.

    Example:
        >>> import tempfile
        >>> overrides = ["experiment=demo", "grid={loss: [ce, gce], seed: [0]}",
        ...              f"output_root={tempfile.mkdtemp()}"]
        >>> [d.name.split("-")[0] for d in run_sweep(overrides, dry_run=True)]
        ['digits__mlp__ce__s0', 'digits__mlp__gce__s0']
    """
    cfg = to_config(cfg)
    cfgs = expand_grid(cfg)
    dirs = [run_dir(c) for c in cfgs]
    from gencal.train.run import is_finished

    todo = [c for c, d in zip(cfgs, dirs) if not is_finished(d)]
    if launcher == "slurm":
        if todo:
            submit_slurm(cfg, todo, dry_run=dry_run)
        return dirs
    if launcher != "local":
        raise GencalInputError(f"launcher: expected 'local' or 'slurm', got {launcher!r}")
    if not todo or dry_run:
        return dirs
    cores = _cores()
    if workers is None:
        workers = 1 if _uses_gpu(cfg) else max(1, min(cores, len(todo)))
    workers = max(1, min(int(workers), len(todo)))
    threads = max(1, cores // workers)
    containers = []
    for c in todo:
        c = c.copy()
        with open_dict(c):
            if not int(c.trainer.get("threads", 0) or 0):
                c.trainer.threads = threads
        containers.append(OmegaConf.to_container(c, resolve=True))
    bar = _progress(len(dirs), len(dirs) - len(todo), progress)
    failures: dict[str, str] = {}
    try:
        if workers == 1:
            for cont, c in zip(containers, todo):
                try:
                    sweep_worker(cont)
                except Exception as exc:
                    failures[str(run_dir(c))] = f"{type(exc).__name__}: {exc}"
                bar.update(1)
        else:
            with ProcessPoolExecutor(
                max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker
            ) as pool:
                futs = {pool.submit(sweep_worker, cont): c for cont, c in zip(containers, todo)}
                for fut in as_completed(futs):
                    try:
                        fut.result()
                    except Exception as exc:
                        failures[str(run_dir(futs[fut]))] = f"{type(exc).__name__}: {exc}"
                    bar.update(1)
    finally:
        bar.close()
    if failures:
        raise SweepError(failures)
    return dirs


def _progress(total: int, done: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc="runs", unit="run", disable=not enabled)


# ---------------------------------------------------------------------------------- SLURM
def slurm_parameters(cfg: DictConfig) -> dict[str, Any]:
    """submitit ``update_parameters`` keywords for one run of ``cfg`` on SLURM.

    One task per device (Lightning's SLURM environment gives each task its rank), GPUs per node
    = ``trainer.devices`` when training on GPUs, ``trainer.num_nodes`` nodes, and the
    ``cfg.slurm`` settings (partition, time limit, CPUs per task, memory, array parallelism,
    extra sbatch parameters).

    Args:
        cfg: a composed config.

    Returns:
        Keyword arguments of ``submitit.AutoExecutor.update_parameters``.

    Example:
        >>> from gencal.train import compose_config
        >>> cfg = compose_config(["experiment=demo", "trainer.accelerator=gpu",
        ...                       "trainer.devices=4", "slurm.partition=gpu"])
        >>> p = slurm_parameters(cfg)
        >>> p["tasks_per_node"], p["gpus_per_node"], p["nodes"], p["slurm_partition"], p["name"]
        (4, 4, 1, 'gpu', 'gencal-demo')
    """
    s = cfg.get("slurm") or {}
    devices = cfg.trainer.get("devices", 1)
    devices = int(devices) if isinstance(devices, int) or str(devices).isdigit() else 1
    params: dict[str, Any] = {
        "timeout_min": int(s.get("timeout_min", 1440)),
        "nodes": int(cfg.trainer.get("num_nodes", 1)),
        "tasks_per_node": devices,
        "cpus_per_task": int(s.get("cpus_per_task", 8)),
        "mem_gb": int(s.get("mem_gb", 32)),
        "slurm_array_parallelism": int(s.get("array_parallelism", 64)),
        "name": f"gencal-{cfg.experiment}",
    }
    if str(cfg.trainer.get("accelerator", "auto")) != "cpu":
        params["gpus_per_node"] = devices
    if s.get("partition"):
        params["slurm_partition"] = str(s.partition)
    extra = s.get("additional_parameters")
    if extra:
        params["slurm_additional_parameters"] = OmegaConf.to_container(extra, resolve=True)
    return params


def submit_slurm(cfg: DictConfig, todo: Sequence[DictConfig], *, dry_run: bool = False):
    """Submit ``todo`` as one submitit job array; returns the jobs (or the parameters).

    Args:
        cfg: the sweep's config (its ``slurm`` settings, see :func:`slurm_parameters`).
        todo: the configs of the runs to submit.
        dry_run: check that the jobs pickle and return the parameters without submitting.

    Returns:
        The submitit jobs, or with ``dry_run`` the executor's parameters.

    Example:
        >>> from gencal.train import compose_config
        >>> cfg = compose_config(["experiment=demo", "trainer.accelerator=cpu"])
        >>> params = submit_slurm(cfg, expand_grid(cfg), dry_run=True)
        >>> params["tasks_per_node"], "gpus_per_node" in params, params["timeout_min"]
        (1, False, 1440)
    """
    params = slurm_parameters(cfg)
    containers = [OmegaConf.to_container(c, resolve=True) for c in todo]
    pickle.dumps((sweep_worker, containers))  # fail here, not on the cluster
    if dry_run:
        return params
    import submitit

    folder = Path(str(cfg.output_root)) / str(cfg.experiment) / ".submitit" / "%j"
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    executor.update_parameters(**params)
    return executor.map_array(sweep_worker, containers)
