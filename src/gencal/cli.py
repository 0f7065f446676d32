"""The ``gencal`` command line: train, bench, report, calibrate, predict, demo.

Every error (a bad file, override or value, missing data, a missing extra, a failed run) prints
one line ``gencal: error: <what to fix>`` on stderr and exits with status 2, without a
traceback; ``--debug`` (anywhere on the command line) or ``GENCAL_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from gencal._checks import GencalInputError
from gencal.cli_errors import error_line

__all__ = ["main"]

EPILOG_MAIN = """\
examples:
  gencal demo                                  # the main job: a quick study on the CPU
  gencal train loss=gce data=digits seed=1     # one training run (Hydra overrides)
  gencal bench experiment=demo --workers 2     # a grid of runs + every calibrator + report
  gencal report runs/demo                      # rebuild the report of an experiment
  gencal calibrate logits.npz --method ats     # calibrate your own saved logits
  gencal predict runs/demo/<run> --checkpoint best   # logits of a saved checkpoint

`gencal <command> --help` explains each command.
"""

TRAIN_HELP = """\
usage: gencal train [--quiet] [--debug] [KEY=VALUE ...] [HYDRA OPTIONS]

Train one run: compose configs/config.yaml with the Hydra overrides, train the run (or resume it
from its ckpt/last.ckpt, or reuse it when its logits.npz exists), then print its folder, what was
done (trained, resumed or reused) and the calibration and test accuracy, ECE-15 and NLL of its
saved logits.

options:
  --quiet, -q      no progress bar (default: Lightning's progress bar when stdout is a terminal;
                   trainer.progress_bar=true|false decides explicitly)
  --debug          show the traceback of an error (or set GENCAL_DEBUG=1)
  Hydra's own options (-m/--multirun, --cfg job, --info, ...) run the Hydra app
  gencal.train.app with the same overrides.

examples:
  gencal train data=digits model=mlp loss=gce seed=1 trainer.epochs=5
  gencal train experiment=demo loss=focal loss.gamma=2     (+experiment=demo works too)
  gencal train data=cifar10 model=resnet20 data.kwargs.download=true
  gencal train -m experiment=demo loss=ce,gce seed=0,1,2
"""

EPILOG_BENCH = """\
Overrides are Hydra overrides of configs/config.yaml, e.g.
  gencal bench experiment=demo
  gencal bench experiment=demo grid.seed=[0,1,2,3,4] trainer.epochs=20 --workers 2
  gencal bench experiment=demo calibrators=[none,ts,ats,vector,isotonic]
Finished runs (logits.npz present) and finished evaluations (eval/<calibrator>.json) are reused,
so rerunning a killed or extended sweep only does the missing work. Outputs:
<output_root>/<experiment>/<run>/..., results.csv and report/index.html.
"""

EPILOG_REPORT = """\
examples:
  gencal report runs/demo
  gencal report runs/myexp --evaluate --calibrators none,ts,ats,dirichlet
The report lands in EXPERIMENT_DIR/report/ (index.html, report.md, tables.tex, CSVs, figures/).
"""

# The registered calibrators (gencal.calibration.list_calibrators()), named here so that building
# the parser does not import gencal.calibration and scikit-learn (0.8 s on a 2-core CPU, for every
# command); tests/test_cli.py checks the two agree.
CALIBRATOR_NAMES = (
    "none", "ts", "ts_grid", "ats", "ets", "vector", "dirichlet", "isotonic", "histogram",
    "spline", "la",
)  # fmt: skip

EPILOG_CALIBRATE = """\
input forms:
  npz with `logits` [N,K] + `labels` [N]        fit on them, write their calibrated probs
  npz with `cal_logits` + `cal_labels` (+ `test_logits`, `test_labels`)   e.g. a run's logits.npz
  logits.npy --labels labels.npy [--test-logits test.npy]
  .pt/.pth file with a dict of tensors (same keys) or a logits tensor + --labels
examples:
  gencal calibrate val_logits.npz --method ats --out calibrated/ats
  gencal calibrate runs/demo/digits__mlp__ce__s0-*/logits.npz --method ts
  gencal calibrate logits.npy --labels labels.npy --method dirichlet --param reg_lambda=1e-3
Writes OUT.npz (`probs`, and `cal_probs`/`labels` where known) and OUT.json (the calibrator's
JSON state: gencal.calibration.load_calibrator reads it back). Default OUT: <input>.<method>.
"""

EPILOG_PREDICT = """\
Rebuilds each run's model and splits from its config.yaml, loads the checkpoint and writes the
calibration- and test-split logits beside logits.npz as <checkpoint>_logits.npz (same format;
read with gencal.train.load_run) and its NLL and accuracy as <checkpoint>_summary.json. `best`
is the epoch of lowest calibration NLL (the default callbacks keep it), `last` the last finished
epoch. With best_summary.json in its run folders, the report's training table shows the test
NLL of that model beside the final one's.
examples:
  gencal predict runs/demo/digits__mlp__ce__s0-*
  gencal predict runs/myexp/*/ --checkpoint last --threads 2
"""

EPILOG_DEMO = """\
The demo trains CE, GCE, focal and FLSD-53 on scikit-learn digits (no download) over 3 seeds,
fits none / TS / ATS on each run's calibration split, prints the comparison table and writes
an HTML report. Running it again reuses finished runs and records.
examples:
  gencal demo
  gencal demo --workers 1 --output-root /tmp/gencal-runs
  gencal demo --data fashion_mnist            # needs /usr/share/datasets/fashion-mnist;
                                              # a 28x28 CNN, 2 epochs: a much longer job
"""


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


class _Parser(argparse.ArgumentParser):
    """argparse with the one-line error format of every other gencal error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"gencal: error: {message} (see `{self.prog} --help`)\n")


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="gencal",
        description="Accurate and calibrated classification: GCE, ATS, metrics and a benchmark.",
        epilog=EPILOG_MAIN,
        formatter_class=_formatter,
    )
    from gencal import __version__

    p.add_argument("--version", action="version", version=f"gencal {__version__}")
    p.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an error (anywhere on the line; or GENCAL_DEBUG=1)",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser(
        "train",
        help="train one run and print its metrics (Hydra overrides; `gencal train --help`)",
        add_help=False,
    )

    b = sub.add_parser(
        "bench",
        help="run a grid of trainings, evaluate every calibrator, write the report",
        description="Train the grid of an experiment config, fit every calibrator on each run's "
        "calibration split, evaluate on its test split, aggregate and report.",
        epilog=EPILOG_BENCH,
        formatter_class=_formatter,
    )
    _add_bench_args(b)
    b.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="Hydra config overrides")

    r = sub.add_parser(
        "report",
        help="(re)build the tables, figures and HTML page of an experiment folder",
        epilog=EPILOG_REPORT,
        formatter_class=_formatter,
    )
    r.add_argument("experiment_dir", metavar="EXPERIMENT_DIR", help="e.g. runs/demo")
    r.add_argument("--out", metavar="DIR", help="report folder (default EXPERIMENT_DIR/report)")
    r.add_argument(
        "--evaluate",
        action="store_true",
        help="first evaluate finished runs that lack records (with --calibrators)",
    )
    r.add_argument(
        "--calibrators",
        default="none,ts,ats",
        metavar="LIST",
        help="comma-separated calibrators for --evaluate, or a calibrator preset such as "
        "all or longtail (configs/calibrator/; default: none,ts,ats)",
    )
    r.add_argument("--redo-corrupt", action="store_true", help="re-evaluate corrupt records")
    r.add_argument("--no-figures", action="store_true", help="tables only (faster)")
    r.add_argument("--summary", action="store_true", help="also print the one-screen summary")

    c = sub.add_parser(
        "calibrate",
        help="fit a calibrator on your saved logits; write calibrated probabilities + its state",
        description="Fit a post-hoc calibrator on saved logits and labels, write the calibrated "
        "probabilities (npz) and the calibrator's JSON state. Bad input writes nothing.",
        epilog=EPILOG_CALIBRATE,
        formatter_class=_formatter,
    )
    c.add_argument("logits_file", metavar="LOGITS_FILE", help=".npz, .npy or .pt file")
    c.add_argument(
        "--method",
        "-m",
        default="ats",
        help=f"calibrator: {' '.join(CALIBRATOR_NAMES)} (default: ats)",
    )
    c.add_argument(
        "--labels", metavar="FILE", help="labels .npy/.pt when LOGITS_FILE holds only logits"
    )
    c.add_argument(
        "--test-logits", metavar="FILE", help="logits to transform (default: the fitted ones)"
    )
    c.add_argument("--out", "-o", metavar="PREFIX", help="write PREFIX.npz and PREFIX.json")
    c.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="calibrator hyper-parameter (repeatable), e.g. --param n_bins=10",
    )
    c.add_argument("--force", action="store_true", help="overwrite existing outputs")
    c.add_argument(
        "--probs",
        dest="param",
        action="append_const",
        const="inputs=probs",
        help="the file holds probabilities, not logits (same as --param inputs=probs)",
    )

    pr = sub.add_parser(
        "predict",
        help="logits of a run's saved checkpoint (best or last) on its calibration and test splits",
        epilog=EPILOG_PREDICT,
        formatter_class=_formatter,
    )
    pr.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders")
    pr.add_argument(
        "--checkpoint",
        default="best",
        metavar="NAME",
        help="best (default), last, or a path to a .ckpt file",
    )
    pr.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: the run's)")
    pr.add_argument("--force", action="store_true", help="recompute existing outputs")

    d = sub.add_parser(
        "demo",
        help="the main job: CE/GCE/focal/FLSD-53 x none/TS/ATS x 3 seeds on digits, with report",
        description="Equivalent to `gencal bench experiment=demo`, then prints the comparison "
        "table and the path of the HTML report.",
        epilog=EPILOG_DEMO,
        formatter_class=_formatter,
    )
    _add_bench_args(d, default_workers=2)
    d.add_argument(
        "--data",
        choices=("digits", "fashion_mnist"),
        default="digits",
        help="dataset (default: scikit-learn digits)",
    )
    d.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="extra Hydra overrides")
    return p


def _add_bench_args(p: argparse.ArgumentParser, default_workers: int | None = None) -> None:
    p.add_argument(
        "--workers",
        type=int,
        default=default_workers,
        metavar="N",
        help="runs trained in parallel; CPU threads are split between them (default "
        + (str(default_workers) if default_workers else "one per core on CPU, 1 on GPU")
        + ")",
    )
    p.add_argument(
        "--launcher",
        default="local",
        metavar="NAME",
        help="local (default: worker processes on this machine) or slurm (submitit job array)",
    )
    p.add_argument("--output-root", metavar="DIR", help="where runs go (default: config's, runs/)")
    p.add_argument(
        "--redo-corrupt",
        action="store_true",
        help="re-evaluate corrupt records (kept as <name>.json.corrupt) instead of stopping",
    )
    p.add_argument("--no-report", action="store_true", help="skip the report")
    p.add_argument("--no-figures", action="store_true", help="report tables only (faster)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse, letting KEY=VALUE overrides appear anywhere among the options."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        bad = [e for e in extra if e.startswith("-") or "=" not in e]
        if bad or not hasattr(args, "overrides"):
            parser.parse_args(argv)  # prints the usual usage error and exits 2
        args.overrides = list(args.overrides) + extra
    return args


def _parse_param(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise GencalInputError(f"--param {item!r}: expected KEY=VALUE, e.g. --param n_bins=10")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


# --------------------------------------------------------------------------- commands


#: the options of a Hydra app (``gencal train`` passes them to ``gencal.train.app``)
HYDRA_OPTIONS = frozenset(
    "--hydra-help --version --cfg -c --resolve --package -p --run -r --multirun -m "
    "--shell-completion -sc --config-path -cp --config-name -cn --config-dir -cd "
    "--experimental-rerun --info -i".split()
)


def _override_key(override: str) -> str:
    from gencal.train.config import override_key

    return override_key(override)


def _train_help() -> None:
    print(TRAIN_HELP)
    print("The config (Hydra's help):\n")
    sys.stdout.flush()
    _train_hydra(["--help"])


def _train_hydra(argv: list[str]) -> int:
    """The Hydra app (multirun, ``--cfg``, launchers), its errors raised as exceptions.

    With ``-m``/``--multirun``, the experiment's grid joins the sweep as Hydra sweep overrides
    for the keys the command line does not set (:func:`gencal.train.sweep.grid_overrides`), so
    ``gencal train -m experiment=demo`` trains the same runs as ``gencal bench
    experiment=demo``.
    """
    from gencal.train.app import main as train_main

    if any(a in ("-m", "--multirun") for a in argv):
        from gencal.train.sweep import compose_sweep, grid_overrides

        given = [a for a in argv if not a.startswith("-")]
        plain = [a for a in given if not _override_key(a).startswith("hydra")]
        argv = [*argv, *grid_overrides(compose_sweep(plain), given)]

    saved = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # raise, and let main() print one line
    try:
        train_main(argv)
    finally:
        if saved is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved
    return 0


def _cmd_train(argv: list[str]) -> int:
    quiet = any(a in ("--quiet", "-q") for a in argv)
    argv = [a for a in argv if a not in ("--quiet", "-q")]
    if any(a in ("--help", "-h") for a in argv):
        _train_help()
        return 0
    from gencal.train.config import normalize_overrides

    argv = normalize_overrides(argv)
    unknown = [a for a in argv if a.startswith("-") and a.split("=")[0] not in HYDRA_OPTIONS]
    if unknown:
        raise GencalInputError(
            f"train: unknown option {unknown[0]}; `gencal train --help` lists the options"
        )
    hydra_app = any(a.startswith("-") for a in argv) or any(
        _override_key(a).startswith("hydra") for a in argv
    )
    if hydra_app:
        return _train_hydra(argv)
    bad = [a for a in argv if "=" not in a]
    if bad:
        raise GencalInputError(
            f"train: {bad[0]!r} is not an override; expected KEY=VALUE, e.g. loss=gce"
        )
    from gencal.train.app import train_and_report
    from gencal.train.config import compose_config

    cfg = compose_config(argv)
    if any(_override_key(a) == "trainer.progress_bar" for a in argv):
        progress = None  # the user's choice
    else:
        progress = not quiet and sys.stdout.isatty()
    train_and_report(cfg, progress=progress)
    return 0


def _bench(args: argparse.Namespace, overrides: list[str], *, title: str) -> int:
    from gencal.bench.report import format_summary
    from gencal.bench.runner import run_bench
    from gencal.train.sweep import compose_sweep

    if args.workers is not None and args.workers < 1:
        raise GencalInputError(f"--workers must be at least 1, got {args.workers}")
    from gencal.train.config import normalize_overrides

    overrides = normalize_overrides(overrides)
    if args.output_root:
        overrides = [*overrides, f"output_root={args.output_root}"]
    cfg = compose_sweep(overrides)  # loss=ce,gce seed=0,1 (multirun syntax) join the grid
    t0 = time.time()
    res = run_bench(
        cfg,
        workers=args.workers,
        launcher=args.launcher,
        redo_corrupt=args.redo_corrupt,
        report=not args.no_report,
        figures=not args.no_figures,
        progress=not args.quiet,
    )
    wall = time.time() - t0
    trained = sum(1 for d in res.run_dirs if (d / "logits.npz").stat().st_mtime >= t0)
    ev = res.evaluation
    if res.pending:
        print(
            f"{len(res.pending)} run(s) submitted to SLURM and not finished yet; rerun this "
            "command when they are done to evaluate them and rebuild the report."
        )
    if not res.records:
        return 0
    print()
    print(format_summary(res.records, res.loss_order, res.calibrator_order))
    print(
        f"{title}: {len(res.run_dirs)} runs ({trained} trained now, "
        f"{len(res.run_dirs) - trained} reused), {len(ev.written)} calibrator fits "
        f"({len(ev.reused)} reused) in {wall:.0f} s"
    )
    print(f"results: {res.experiment_dir / 'results.csv'}")
    if res.report_dir is not None:
        print(f"HTML report: {(res.report_dir / 'index.html').resolve()}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    return _bench(args, list(args.overrides), title="bench")


def _cmd_demo(args: argparse.Namespace) -> int:
    overrides = ["experiment=demo"]
    if args.data == "fashion_mnist":
        # 28x28 inputs need the 28x28 CNN; 54k training images: 2 epochs keep it to ~20 min
        overrides += ["data=fashion_mnist", "model=cnn28", "trainer.epochs=2"]
    return _bench(args, overrides + list(args.overrides), title="demo")


def _cmd_report(args: argparse.Namespace) -> int:
    from gencal.bench.aggregate import collect_records, find_run_dirs
    from gencal.bench.evaluate import evaluate_runs, parse_calibrators
    from gencal.bench.report import build_report, format_summary

    exp = Path(args.experiment_dir)
    if not exp.is_dir():
        raise GencalInputError(f"experiment folder {exp} does not exist (e.g. runs/demo)")
    if args.evaluate:
        dirs = [d for d in find_run_dirs(exp) if (d / "logits.npz").is_file()]
        evaluate_runs(
            dirs,
            parse_calibrators(_calibrator_list(args.calibrators)),
            redo_corrupt=args.redo_corrupt,
        )
    orders = _orders_from_runs(exp)
    out = build_report(exp, args.out, figures=not args.no_figures, **orders)
    if args.summary:
        print(format_summary(collect_records(exp), **orders))
    print(f"report: {out.resolve()}")
    print(f"HTML report: {(out / 'index.html').resolve()}")
    return 0


def _calibrator_list(spec: str | None) -> Any:
    """``--calibrators``: a comma-separated list, or the name of a calibrator preset
    (``configs/calibrator/<name>.yaml``, e.g. ``all`` or ``longtail``), or None (the default)."""
    if spec and "," not in spec:
        from omegaconf import OmegaConf

        from gencal.train.config import config_groups, configs_dir

        if spec in config_groups().get("calibrator", []):
            preset = OmegaConf.load(configs_dir() / "calibrator" / f"{spec}.yaml")
            return OmegaConf.to_container(preset.calibrators, resolve=True)
    return spec


def _orders_from_runs(exp: Path) -> dict[str, list[str]]:
    """Loss and calibrator display order from the runs' saved configs.

    Losses: the grid of the study's experiment preset (``configs/experiment/<experiment>.yaml``)
    first, then those of the runs' own grids (a sweep beside the preset's grid), in the order
    found. Calibrators: the ``calibrators`` list of the first readable run config.
    """
    from omegaconf import OmegaConf

    from gencal.bench.aggregate import find_run_dirs
    from gencal.bench.evaluate import parse_calibrators
    from gencal.bench.runner import grid_losses
    from gencal.train.config import configs_dir
    from gencal.train.identity import plain_config

    losses: list[str] = []
    cal_order: list[str] = []
    preset_done = False
    for rd in find_run_dirs(exp):
        if not (rd / "config.yaml").is_file():
            continue
        try:  # an unreadable config only changes the row order
            cfg = OmegaConf.load(rd / "config.yaml")
            name = cfg.get("experiment")
            preset = configs_dir() / "experiment" / f"{name}.yaml"
            if not preset_done and name and preset.is_file():
                losses = grid_losses(OmegaConf.load(preset)) + losses
                preset_done = True
            losses += grid_losses(cfg)
            cals = plain_config(cfg.get("calibrators"))
            if not cal_order and cals:
                cal_order = [c.name for c in parse_calibrators(cals)]
        except Exception:
            continue
    out = {"loss_order": list(dict.fromkeys(losses)), "calibrator_order": cal_order}
    return {k: v for k, v in out.items() if v}


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from gencal.bench.calibrate_file import calibrate_file

    npz, js = calibrate_file(
        args.logits_file,
        args.method,
        args.out,
        labels=args.labels,
        test_logits=args.test_logits,
        hparams=_parse_param(args.param),
        force=args.force,
    )
    print(f"calibrated probabilities: {npz}")
    print(f"calibrator state: {js}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from gencal.train.predict import checkpoint_name, predict_checkpoint

    name = checkpoint_name(args.checkpoint)
    for rd in args.run_dirs:
        out = Path(rd) / f"{name}_logits.npz"
        if out.is_file() and not args.force:
            print(f"{out}: exists (kept; --force recomputes)")
            continue
        predict_checkpoint(rd, args.checkpoint, threads=args.threads)
        summary = json.loads((Path(rd) / f"{name}_summary.json").read_text(encoding="utf-8"))
        print(
            f"{out}: epoch {summary['checkpoint_epoch']}, "
            f"test acc {100 * summary['test_acc']:.2f} %, test NLL {summary['test_nll']:.4f}"
        )
    return 0


# --------------------------------------------------------------------------- entry point


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] == "train":
        return _cmd_train(argv[1:])
    parser = _build_parser()
    if not argv:
        parser.print_help()
        return 0
    args = _parse(parser, argv)
    cmds = {
        "bench": _cmd_bench,
        "report": _cmd_report,
        "calibrate": _cmd_calibrate,
        "predict": _cmd_predict,
        "demo": _cmd_demo,
    }
    return cmds[args.command](args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``gencal``; returns the exit status (0 done, 2 error, 130 interrupted).

    Errors print one line ``gencal: error: <what to fix>`` on stderr instead of a traceback
    (``--debug`` or ``GENCAL_DEBUG=1`` raises it).

    Args:
        argv: the arguments after ``gencal`` (default: ``sys.argv[1:]``).

    Returns:
        The exit status.

    Example:
        >>> import contextlib, io, json, tempfile
        >>> import numpy as np
        >>> folder = Path(tempfile.mkdtemp())
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 3, 200)
        >>> np.savez(folder / "val.npz", logits=rng.normal(size=(200, 3)) + 2 * np.eye(3)[y],
        ...          labels=y)
        >>> main(["calibrate", str(folder / "val.npz"), "--method", "ts"])  # doctest: +ELLIPSIS
        calibrated probabilities: .../val.ts.npz
        calibrator state: .../val.ts.json
        0
        >>> json.loads((folder / "val.ts.json").read_text())["name"]
        'ts'
        >>> with contextlib.redirect_stderr(io.StringIO()) as err:
        ...     status = main(["calibrate", str(folder / "missing.npz")])
        >>> status, err.getvalue().split(": ")[:3]
        (2, ['gencal', 'error', 'logits file'])
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("GENCAL_DEBUG", "") not in ("", "0") or "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        return _dispatch(argv)
    except KeyboardInterrupt:
        print("gencal: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `gencal report ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:
        if debug:
            raise
        print(f"gencal: error: {error_line(exc)}", file=sys.stderr)
        return 2
