"""The Hydra app: ``python -m gencal.train.app [overrides]`` trains one run.

Examples::

    python -m gencal.train.app experiment=demo loss=gce seed=1
    python -m gencal.train.app -m experiment=demo loss=ce,gce seed=0,1,2 \\
        hydra/launcher=joblib hydra.launcher.n_jobs=2 trainer.threads=1
    python -m gencal.train.app -m experiment=paper_cifar10 loss=ce,gce seed=0,1,2 \\
        hydra/launcher=submitit_slurm hydra.launcher.partition=gpu \\
        hydra.launcher.gpus_per_node=1 hydra.launcher.tasks_per_node=1 hydra.launcher.timeout_min=2880

Each job prints its run folder. ``trainer.devices=4 trainer.strategy=ddp`` trains one run on 4
GPUs (Lightning launches the other processes; under SLURM one task per GPU).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from omegaconf import DictConfig, open_dict

from gencal.train.config import configs_dir

__all__ = ["main", "task"]


def task(cfg: DictConfig) -> str:
    """Hydra task function: train ``cfg`` and return the run folder."""
    from hydra.core.hydra_config import HydraConfig

    from gencal.train.run import train_run

    with open_dict(cfg):
        try:
            cfg.overrides = list(HydraConfig.get().overrides.task)
        except ValueError:  # not inside a Hydra app
            cfg.overrides = list(cfg.get("overrides") or [])
    rdir = train_run(cfg)
    print(rdir, flush=True)
    return str(rdir)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the Hydra app with ``argv`` (default: ``sys.argv[1:]``)."""
    import hydra

    app = hydra.main(config_path=str(configs_dir()), config_name="config", version_base="1.3")(task)
    if argv is None:
        app()
        return
    saved = sys.argv
    sys.argv = [saved[0] if saved else "gencal-train", *argv]
    try:
        app()
    finally:
        sys.argv = saved


if __name__ == "__main__":
    main()
