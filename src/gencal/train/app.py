"""The Hydra app: ``python -m gencal.train.app [overrides]`` trains one run.

Examples::

    python -m gencal.train.app experiment=demo loss=gce seed=1
    python -m gencal.train.app -m experiment=demo loss=ce,gce seed=0,1,2 \\
        hydra/launcher=joblib hydra.launcher.n_jobs=2 trainer.threads=1
    python -m gencal.train.app -m experiment=paper_cifar10 loss=ce,gce seed=0,1,2 \\
        hydra/launcher=submitit_slurm hydra.launcher.partition=gpu \\
        hydra.launcher.gpus_per_node=1 hydra.launcher.tasks_per_node=1 hydra.launcher.timeout_min=2880

Each job ends by printing its run folder, whether it was trained, resumed or reused, and the
calibration and test accuracy, ECE-15 and NLL of its saved logits (:func:`run_summary`).
``trainer.devices=4 trainer.strategy=ddp`` trains one run on 4 GPUs (Lightning launches the
other processes; under SLURM one task per GPU). ``gencal train`` runs the same task
(:func:`train_and_report`) without the Hydra app unless Hydra's own options are used.
"""

from __future__ import annotations

import os
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from omegaconf import DictConfig, open_dict

from gencal._checks import GencalInputError
from gencal.train.config import configs_dir, run_dir

__all__ = ["main", "run_status", "run_summary", "task", "train_and_report"]

RunStatus = Literal["trained", "resumed", "reused"]


def run_status(cfg: DictConfig) -> RunStatus:
    """What :func:`gencal.train.train_run` will do with ``cfg``, read from its run folder.

    ``"reused"`` when the folder holds ``logits.npz`` (a finished run is returned at once),
    ``"resumed"`` when it holds ``ckpt/last.ckpt`` (training continues from that epoch),
    ``"trained"`` otherwise (training starts from scratch).

    Args:
        cfg: a composed config (its run folder is ``gencal.train.run_dir(cfg)``).

    Returns:
        ``"trained"``, ``"resumed"`` or ``"reused"``.

    Raises:
        GencalInputError: ``ckpt/last.ckpt`` is not a torch checkpoint (a zip archive).

    Example:
        >>> import tempfile, zipfile
        >>> from gencal.train import compose_config, run_dir
        >>> cfg = compose_config(["experiment=demo", f"output_root={tempfile.mkdtemp()}"])
        >>> run_status(cfg)
        'trained'
        >>> (run_dir(cfg) / "ckpt").mkdir(parents=True)
        >>> zipfile.ZipFile(run_dir(cfg) / "ckpt" / "last.ckpt", "w").close()
        >>> run_status(cfg)
        'resumed'
        >>> (run_dir(cfg) / "logits.npz").touch()
        >>> run_status(cfg)
        'reused'
    """
    from gencal.train.run import is_finished

    rdir = run_dir(cfg)
    if is_finished(rdir):
        return "reused"
    ckpt = rdir / "ckpt" / "last.ckpt"
    if ckpt.is_file():
        if not zipfile.is_zipfile(ckpt):
            raise GencalInputError(
                f"{ckpt}: corrupt checkpoint (not a torch zip archive); "
                "delete it to train the run from scratch"
            )
        return "resumed"
    return "trained"


def run_summary(path: str | os.PathLike, status: RunStatus | None = None) -> str:
    """A few lines on a finished run: its folder, status and metrics from its saved logits.

    Accuracy, ECE-15 (15 equal-width bins) and NLL of the softmax of the saved (uncalibrated)
    calibration-split and test-split logits, computed with :mod:`gencal.metrics`.

    Args:
        path: a finished run's folder (holding ``logits.npz``).
        status: what was done to it (:func:`run_status`), shown after the folder.

    Returns:
        ``run: <folder> (<status>)``, a header, and one row per split:
        ``n``, accuracy %, ECE-15 %, NLL (nats).

    Example:
        A finished run folder written by hand (``gencal.train`` writes the same arrays):

        >>> import tempfile
        >>> import numpy as np
        >>> rdir = Path(tempfile.mkdtemp())
        >>> z = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 1.0]], dtype=np.float32)
        >>> y = np.array([0, 1, 1, 1])
        >>> np.savez(rdir / "logits.npz", cal_logits=z, cal_labels=y, test_logits=z[:2],
        ...          test_labels=y[:2], meta=np.array("{}"))
        >>> summary = run_summary(rdir, "reused").splitlines()
        >>> summary[0].endswith("(reused)")
        True
        >>> for line in summary[1:]:
        ...     print(line)
        split       n  accuracy %  ECE-15 %      NLL
        cal         4       75.00     22.78   0.6735
        test        2      100.00     11.92   0.1269
    """
    import torch

    from gencal.metrics import accuracy, expected_calibration_error, negative_log_likelihood
    from gencal.train.run import load_run

    run = load_run(path)
    head = f"run: {Path(path)}" + (f" ({status})" if status else "")
    lines = [head, f"{'split':<6}{'n':>7}{'accuracy %':>12}{'ECE-15 %':>10}{'NLL':>9}"]
    for split, logits, labels in (
        ("cal", run.cal_logits, run.cal_labels),
        ("test", run.test_logits, run.test_labels),
    ):
        probs = torch.softmax(torch.as_tensor(logits, dtype=torch.float64), dim=1)
        y = torch.as_tensor(labels, dtype=torch.long)
        acc = 100 * accuracy(probs, y)
        ece = 100 * expected_calibration_error(probs, y, n_bins=15)
        nll = negative_log_likelihood(probs, y)
        lines.append(f"{split:<6}{len(y):>7}{acc:>12.2f}{ece:>10.2f}{nll:>9.4f}")
    return "\n".join(lines)


def _is_rank_zero() -> bool:
    return all(int(os.environ.get(v) or 0) == 0 for v in ("RANK", "SLURM_PROCID", "LOCAL_RANK"))


def train_and_report(cfg: DictConfig, *, progress: bool | None = None) -> Path:
    """Train (or resume, or reuse) the run of ``cfg``, print its summary, return its folder.

    Args:
        cfg: a composed config (``gencal.train.compose_config``).
        progress: show Lightning's progress bar (sets ``trainer.progress_bar``); ``None``
            keeps the config's value.

    Returns:
        The run folder.

    Example:
        A run whose ``logits.npz`` exists is reused, not trained again (here one written by
        hand; ``gencal.train.train_run`` writes it at the end of training):

        >>> import json, tempfile
        >>> import numpy as np
        >>> from gencal.train import compose_config, run_dir
        >>> cfg = compose_config(["experiment=demo", f"output_root={tempfile.mkdtemp()}"])
        >>> z = np.array([[3.0, 0.0], [0.0, 3.0]], dtype=np.float32)
        >>> y = np.array([0, 1])
        >>> run_dir(cfg).mkdir(parents=True)
        >>> np.savez(run_dir(cfg) / "logits.npz", cal_logits=z, cal_labels=y, test_logits=z,
        ...          test_labels=y, meta=np.array(json.dumps({"config": {}})))
        >>> rdir = train_and_report(cfg)  # doctest: +ELLIPSIS
        run: .../demo/digits__mlp__ce__s0-... (reused)
        split       n  accuracy %  ECE-15 %      NLL
        cal         2      100.00      4.74   0.0486
        test        2      100.00      4.74   0.0486
        >>> rdir == run_dir(cfg)
        True
    """
    from gencal.train.run import train_run

    status = run_status(cfg)
    if progress is not None:
        cfg = cfg.copy()
        with open_dict(cfg):
            cfg.trainer.progress_bar = bool(progress)
    rdir = train_run(cfg)
    if _is_rank_zero():
        print(run_summary(rdir, status), flush=True)
    return rdir


def task(cfg: DictConfig) -> str:
    """Hydra task function: train ``cfg``, print its summary and return the run folder.

    Inside the Hydra app the command line's overrides are stored in ``cfg.overrides``;
    called directly, ``cfg.overrides`` is kept.

    Args:
        cfg: the config Hydra composed (or one from ``gencal.train.compose_config``).

    Returns:
        The run folder, as a string.

    Example:
        As :func:`train_and_report`, with a finished run written by hand:

        >>> import tempfile
        >>> import numpy as np
        >>> from gencal.train import compose_config, run_dir
        >>> cfg = compose_config(["experiment=demo", f"output_root={tempfile.mkdtemp()}"])
        >>> z, y = np.eye(2, dtype=np.float32), np.array([0, 1])
        >>> run_dir(cfg).mkdir(parents=True)
        >>> np.savez(run_dir(cfg) / "logits.npz", cal_logits=z, cal_labels=y, test_logits=z,
        ...          test_labels=y, meta=np.array("{}"))
        >>> folder = task(cfg)  # doctest: +ELLIPSIS
        run: ... (reused)
        ...
        >>> folder == str(run_dir(cfg))
        True
    """
    from hydra.core.hydra_config import HydraConfig

    if cfg.get("overrides") is None:  # composed by the Hydra app: record its command line
        with open_dict(cfg):
            try:
                cfg.overrides = list(HydraConfig.get().overrides.task)
            except ValueError:  # not inside a Hydra app
                cfg.overrides = []
    return str(train_and_report(cfg))


def main(argv: Sequence[str] | None = None) -> None:
    """Run the Hydra app with ``argv`` (default: ``sys.argv[1:]``).

    Args:
        argv: Hydra overrides and options, as on the command line (``["experiment=demo",
            "loss=gce"]``, ``["-m", "seed=0,1"]``, ``["--cfg", "job"]``).

    Example:
        ``--cfg job`` prints the composed config and trains nothing:

        >>> main(["experiment=demo", "loss=gce", "--cfg", "job"])  # doctest: +ELLIPSIS
        data:
          name: digits
        ...
        loss:
          name: gce
        ...
    """
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
