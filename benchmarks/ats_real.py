"""ATS against TS, ETS and spline recalibration (and no calibration) on real logits.

Usage: ``PYTHONPATH=src python benchmarks/ats_real.py [--runs-dir DIR] [--quick] [--rules]``

Datasets (every one available on this machine):

- ``synthetic``: confidence-dependent miscalibration (K=10; under-confident at low, over-confident
  at high confidence), 1,500 calibration and 20,000 test samples, 5 seeds.
- ``digits``: scikit-learn digits, gencal's ``experiment=demo`` run (MLP, 20 epochs, CE), 5 seeds;
  the run's own calibration (~340) and test splits.
- ``fashion_mnist``: Fashion-MNIST (Debian ``dataset-fashion-mnist``), MLP 784-256-256-10 trained
  with gencal's trainer (8 epochs, CE, seed 0); its calibration split (6,000) and the test set
  (10,000) are pooled and re-split 5 times at random into 1,500 calibration / 14,500 test images.
  ``fashion_mnist_40ep``: the same with 40 epochs (a model that has begun to over-fit).
- ``fashion_mnist_adam``: the model of ``benchmarks/calibrators_fashion_mnist.py`` (MLP, Adam,
  30 epochs on 20,000 images, plain PyTorch loop: strongly over-confident), 5 random calibration
  splits of 1,300 unused training images, the 10,000 test images.
- ``fashion_mnist_lt``: long-tailed Fashion-MNIST (imbalance factor 100), same MLP, 8 epochs, CE,
  5 seeds; the run's long-tailed calibration split (1,489 images) and the balanced test set.
  ``fashion_mnist_lt_bal``: the same logits, every calibrator fitted with class-balanced sample
  weights (``class_balanced_weights``), the right fit for a balanced test set.
- CIFAR-10 studies: every finished run's ``logits.npz`` under ``docs/results/<study>/`` whose data
  is CIFAR-10, one dataset per study folder (named after it without a ``cpu_`` prefix, e.g.
  ``cifar10_jpeg_lt``; one seed per run), plus its ``_bal`` variant when the study's training set
  is long-tailed; skipped with a note when there are none.

The other models are trained with ``gencal.train.train_run`` on 1 thread (runs are reused from
``--runs-dir`` if they are there). Calibrators use their defaults. Prints, per dataset, the mean
test NLL and ECE-15 (equal-width bins, %) of each method, the ratio to TS, ATS's chosen number of
pieces, and whether the targets hold: ATS NLL <= TS NLL + 0.5 % and ATS ECE <= TS ECE on every
dataset, ATS ECE lower than TS's on at least half of them, and on the synthetic data ATS
ECE <= 0.5 x TS's. Then, for the long-tailed runs, accuracy, balanced accuracy, ECE and NLL of
class-balanced fits and post-hoc logit adjustment (``la``: prior from the calibration split's
label frequencies; ``la[train]``: from the run's ``train_class_counts``; ``+ts_bal``: then TS,
both on class-balanced weights).

For the CIFAR-10 studies it also lists the runs where ATS chose more than one piece, with
their test ECE under TS and ATS.

``--rules`` prints instead ATS's test ECE under other rules for choosing the pieces (``RULES``:
held-out NLL with the one-standard-error rule or the best score, held-out ECE with one or two
standard errors, a larger minimum piece), each against TS, on the same datasets.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from gencal.calibration import class_balanced_weights, get_calibrator

#: label -> (registry name, hyperparameters); the last two rows are ATS settings for comparison
#: (fixed pieces without the CV; CV scored by held-out ECE with the one-standard-error rule).
METHODS = {
    "none": ("none", {}),
    "ts": ("ts", {}),
    "ats": ("ats", {}),
    "ets": ("ets", {}),
    "spline": ("spline", {}),
    "ats[6,30]": ("ats", {"n_pieces": 6, "shrinkage": 30.0}),
    "ats[ece-cv]": ("ats", {"cv_metric": "ece", "cv_se": 1.0}),
}


#: ``--rules``: ATS's choice of pieces under other selection rules (label -> hyperparameters),
#: each compared with TS; ``ats`` is the default (held-out NLL, two-standard-error rule).
RULES = {
    "ts": ("ts", {}),
    "ats": ("ats", {}),
    "nll-1se": ("ats", {"cv_se": 1.0}),
    "nll-best": ("ats", {"cv_se": 0.0}),
    "ece-1se": ("ats", {"cv_metric": "ece", "cv_se": 1.0}),
    "ece-2se": ("ats", {"cv_metric": "ece", "cv_se": 2.0}),
    "nll-1se-m300": ("ats", {"cv_se": 1.0, "min_piece_size": 300.0}),
}


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def ece15(p: np.ndarray, y: np.ndarray) -> float:
    conf, correct = p.max(1), (p.argmax(1) == y).astype(float)
    idx = np.clip(np.ceil(conf * 15).astype(int) - 1, 0, 14)
    return float(np.abs(np.bincount(idx, conf, 15) - np.bincount(idx, correct, 15)).sum() / len(y))


def nll(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.maximum(p[np.arange(len(y)), y], 1e-300))))


# ----------------------------------------------------------------------------- datasets
# Each yields (cal_logits, cal_labels, test_logits, test_labels) per seed / re-split.


def synthetic(n_rep: int):
    def data(n, rng):
        z = rng.normal(size=(n, 10)) * rng.uniform(0.2, 3.0, size=(n, 1))
        z[np.arange(n), rng.integers(0, 10, n)] += rng.uniform(0, 6.0, n)
        c = softmax(z).max(1)
        lt = np.log(0.6) + (np.log(2.5) - np.log(0.6)) * np.clip((c - 0.3) / 0.7, 0, 1)
        p = softmax(z / np.exp(lt)[:, None])
        y = np.minimum((p.cumsum(1) < rng.random((n, 1))).sum(1), 9)
        return z, y

    for s in range(n_rep):
        rng = np.random.default_rng(s)
        yield (*data(1500, rng), *data(20_000, rng))


def _run(overrides: list[str], runs_dir: Path) -> dict[str, Any]:
    from gencal.train import train_run

    rd = train_run([*overrides, "trainer.threads=1", f"output_root={runs_dir}"])
    with np.load(rd / "logits.npz") as f:
        out: dict[str, Any] = {k: f[k] for k in ("cal_logits", "cal_labels", "test_logits")}
        out["test_labels"] = f["test_labels"]
        out["meta"] = json.loads(str(f["meta"])) if "meta" in f.files else {}
    return out


def _split(r: dict[str, Any]):
    return (
        r["cal_logits"].astype(np.float64),
        r["cal_labels"].astype(np.int64),
        r["test_logits"].astype(np.float64),
        r["test_labels"].astype(np.int64),
    )


def digits(n_rep: int, runs_dir: Path):
    for s in range(n_rep):
        yield _split(_run(["experiment=demo", "loss=ce", f"seed={s}"], runs_dir))


FMNIST_MLP = ["model=mlp", "model.input_size=28", "trainer=quick", "scheduler=cosine", "loss=ce"]
FMNIST_MLP += ["optimizer.lr=0.05"]
FMNIST_MLP += ["data.augment.crop_padding=0"]


def fashion_mnist(n_rep: int, runs_dir: Path, epochs: int = 8):
    over = ["data=fashion_mnist", *FMNIST_MLP, f"trainer.epochs={epochs}", "seed=0"]
    zc, yc, zt, yt = _split(_run(over, runs_dir / f"fmnist_{epochs}ep"))
    z, y = np.concatenate([zc, zt]), np.concatenate([yc, yt])
    for s in range(n_rep):
        perm = np.random.default_rng(100 + s).permutation(len(y))
        cal, test = perm[:1500], perm[1500:]
        yield z[cal], y[cal], z[test], y[test]


def fashion_mnist_adam(n_rep: int, root: Path = Path("/usr/share/datasets/fashion-mnist")):
    """benchmarks/calibrators_fashion_mnist.py's model: MLP, Adam, 30 epochs on 20,000 images."""
    from calibrators_fashion_mnist import train_adam_mlp

    zp, yp, zt, yte = train_adam_mlp(root, epochs=30)
    for s in range(n_rep):
        cal = np.random.default_rng(100 + s).choice(len(zp), 1300, replace=False)
        yield zp[cal], yp[cal], zt, yte


def fashion_mnist_lt(n_rep: int, runs_dir: Path, with_counts: bool = False):
    for s in range(n_rep):
        over = ["data=fashion_mnist_lt", *FMNIST_MLP, "trainer.epochs=8", f"seed={s}"]
        r = _run(over, runs_dir / "fmnist_lt_8ep")
        counts = r["meta"].get("train_class_counts")
        yield (*_split(r), counts) if with_counts else _split(r)


def cifar10_studies(root: Path) -> dict[str, tuple[list[Path], bool]]:
    """CIFAR-10 runs by study folder: ``{dataset name: (logits files, long-tailed)}``."""
    found: dict[str, tuple[list[Path], bool]] = {}
    for path in sorted(root.glob("docs/results/*/**/logits.npz")):
        with np.load(path) as f:
            meta = json.loads(str(f["meta"])) if "meta" in f.files else {}
        data = (meta.get("config") or {}).get("data") or {}
        where = path.relative_to(root / "docs" / "results")  # <study>/<run>/logits.npz
        if "cifar10" not in str(data.get("name", "")) and "cifar10" not in where.as_posix():
            continue
        study = where.parts[0]
        name = study.removeprefix("cpu_")
        paths, long_tailed = found.get(name, ([], False))
        found[name] = ([*paths, path], long_tailed or bool(data.get("long_tail")))
    return found


def cifar10(paths: list[Path]):
    for path in paths:
        with np.load(path) as f:
            yield _split({k: f[k] for k in f.files})


# ----------------------------------------------------------------------------- evaluation


def evaluate(
    splits, balanced: bool = False, methods: dict[str, tuple[str, dict]] = METHODS
) -> tuple[dict[str, np.ndarray], list[int]]:
    res: dict[str, list[tuple[float, float]]] = {m: [] for m in methods}
    pieces: list[int] = []
    for zc, yc, zt, yt in splits:
        w = class_balanced_weights(yc) if balanced else None
        for m, (reg, hp) in methods.items():
            cal = get_calibrator(reg, **hp).fit(zc, yc, sample_weight=w)
            p = np.asarray(cal.predict_proba(zt))
            res[m].append((nll(p, yt), ece15(p, yt)))
            if m == "ats":
                pieces.append(cal.n_pieces_)
    return {m: np.array(v) for m, v in res.items()}, pieces


#: Long-tail extras: label -> (registry name, hyperparameters, class-balanced sample weights).
LONGTAIL = {
    "none": ("none", {}, False),
    "ts": ("ts", {}, False),
    "ts_bal": ("ts", {}, True),
    "ats_bal": ("ats", {}, True),
    "vector_bal": ("vector", {}, True),
    "la": ("la", {}, False),
    "la+ts_bal": ("la", {"then": "ts"}, True),
    "la[train]": ("la", {"class_counts": "train"}, False),
    "la[train]+ts_bal": ("la", {"class_counts": "train", "then": "ts"}, True),
}


def longtail_extras(splits) -> None:
    """Accuracy, balanced accuracy, ECE and NLL on the balanced test set of the LT runs."""
    res: dict[str, list[tuple[float, float, float, float]]] = {m: [] for m in LONGTAIL}
    for zc, yc, zt, yt, counts in splits:
        for m, (reg, hp, bal) in LONGTAIL.items():
            if hp.get("class_counts") == "train":
                if counts is None:
                    continue  # runs written before train_class_counts was saved
                hp = {**hp, "class_counts": [int(c) for c in counts]}
            w = class_balanced_weights(yc) if bal else None
            p = np.asarray(get_calibrator(reg, **hp).fit(zc, yc, sample_weight=w).predict_proba(zt))
            pred = p.argmax(1)
            bacc = np.mean([np.mean(pred[yt == c] == c) for c in np.unique(yt)])
            res[m].append((float(np.mean(pred == yt)), float(bacc), ece15(p, yt), nll(p, yt)))
    print("\nfashion_mnist_lt, balanced test set: logit adjustment and class-balanced fits")
    print(f"{'method':<11} {'acc %':>7} {'bal acc %':>9} {'ECE %':>7} {'NLL':>8}")
    for m, rows in res.items():
        if not rows:
            continue
        a, b, e, n = np.mean(rows, axis=0)
        print(f"{m:<11} {100 * a:7.2f} {100 * b:9.2f} {100 * e:7.2f} {n:8.4f}")


def fit_times() -> None:
    """Wall time of one fit on an N=5,000 calibration split (random logits), K = 10 and 100."""
    for k in (10, 100):
        rng = np.random.default_rng(0)
        z, y = rng.normal(size=(5000, k)) * 3, rng.integers(0, k, 5000)
        row = []
        for label, (reg, hp) in METHODS.items():
            t = time.perf_counter()
            get_calibrator(reg, **hp).fit(z, y)
            row.append(f"{label} {time.perf_counter() - t:.2f}")
        print(f"fit time (s), N=5000, K={k}: " + ", ".join(row))


def selection_rules(datasets: dict[str, Any]) -> None:
    """Mean test ECE-15 (%) of ATS under each rule of ``RULES``, marked against TS's.

    ``<`` lower than TS, ``=`` equal (the rule kept plain TS on every split), ``>`` higher; then
    per rule the datasets where it is lower and where it is higher.
    """
    labels = [m for m in RULES if m != "ts"]
    print(f"{'dataset':<21} {'ts':>6} " + " ".join(f"{m:>13}" for m in labels))
    tally: dict[str, list[list[str]]] = {m: [[], []] for m in labels}
    for name, make in datasets.items():
        res, _ = evaluate(make(), balanced=name.endswith("_bal"), methods=RULES)
        ts = res["ts"][:, 1].mean()
        cells = []
        for m in labels:
            e = res[m][:, 1].mean()
            mark = "<" if e < ts - 1e-12 else (">" if e > ts + 1e-12 else "=")
            if mark != "=":
                tally[m][mark == ">"].append(name)
            cells.append(f"{100 * e:12.2f}{mark}")
        print(f"{name:<21} {100 * ts:6.2f} " + " ".join(cells), flush=True)
    for m in labels:
        lower, higher = tally[m]
        print(f"{m}: lower on {len(lower)}, higher on {len(higher)} ({', '.join(higher) or '-'})")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs-dir", default=None, help="reuse / keep trained runs here")
    ap.add_argument("--reps", type=int, default=5, help="seeds or re-splits per dataset")
    ap.add_argument("--quick", action="store_true", help="2 reps, synthetic and digits only")
    ap.add_argument("--fit-times", action="store_true", help="only time one fit per method")
    ap.add_argument(
        "--rules", action="store_true", help="ATS under other selection rules, against TS"
    )
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.fit_times:
        fit_times()
        return
    reps = 2 if args.quick else args.reps
    tmp = None
    if args.runs_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="gencal_ats_real_")
    runs_dir = Path(args.runs_dir or tmp.name)
    repo = Path(__file__).resolve().parents[1]
    cifar = cifar10_studies(repo)
    datasets = {
        "synthetic": lambda: synthetic(reps),
        "digits": lambda: digits(reps, runs_dir),
    }
    if not args.quick:
        datasets["fashion_mnist"] = lambda: fashion_mnist(reps, runs_dir)
        datasets["fashion_mnist_40ep"] = lambda: fashion_mnist(reps, runs_dir, epochs=40)
        datasets["fashion_mnist_adam"] = lambda: fashion_mnist_adam(reps)
        datasets["fashion_mnist_lt"] = lambda: fashion_mnist_lt(reps, runs_dir)
        datasets["fashion_mnist_lt_bal"] = lambda: fashion_mnist_lt(reps, runs_dir)
        for name, (paths, long_tailed) in cifar.items():
            datasets[name] = lambda paths=paths: cifar10(paths)
            if long_tailed:  # class-balanced fits for the balanced test set
                datasets[f"{name}_bal"] = lambda paths=paths: cifar10(paths)
    if args.rules:
        selection_rules(datasets)
        return
    t0 = time.perf_counter()
    table = {}
    run_names = {n: [p.parent.name for p in paths] for n, (paths, _) in cifar.items()}
    for name, make in datasets.items():
        t1 = time.perf_counter()
        res, pieces = evaluate(make(), balanced=name.endswith("_bal"))
        table[name] = res
        print(
            f"{name}: {len(pieces)} seeds/splits, ATS n_pieces chosen {pieces}, "
            f"{time.perf_counter() - t1:.0f} s",
            flush=True,
        )
        runs = run_names.get(name.removesuffix("_bal"), [])
        for run, k, (_, ts_ece), (_, ats_ece) in zip(runs, pieces, res["ts"], res["ats"]):
            if k > 1:  # where ATS is not TS: the run's test ECE-15 % under each
                print(f"  {run}: {k} pieces, ECE TS {100 * ts_ece:.2f} -> ATS {100 * ats_ece:.2f}")
    if not cifar:
        print("CIFAR-10: no CIFAR-10 logits.npz under docs/results/*/ -- skipped")
    if not args.quick:
        longtail_extras(fashion_mnist_lt(reps, runs_dir, with_counts=True))
    print()
    print(f"{'dataset':<20} {'method':<11} {'NLL':>8} {'NLL/TS':>7} {'ECE %':>7} {'ECE/TS':>7}")
    verdict = []
    for name, res in table.items():
        ts_nll, ts_ece = res["ts"].mean(0)
        for m in METHODS:
            v_nll, v_ece = res[m].mean(0)
            print(
                f"{name:<20} {m:<11} {v_nll:8.4f} {v_nll / ts_nll:7.3f} "
                f"{100 * v_ece:7.2f} {v_ece / ts_ece:7.3f}"
            )
        a_nll, a_ece = res["ats"].mean(0)
        verdict.append((name, a_nll <= 1.005 * ts_nll, a_ece <= ts_ece, a_ece < ts_ece))
    print()
    for name, ok_nll, ok_ece, _ in verdict:
        print(
            f"{name:<20} ATS NLL <= TS + 0.5%: {'yes' if ok_nll else 'NO'};"
            f"  ATS ECE <= TS: {'yes' if ok_ece else 'NO'}"
        )
    n_lower = sum(v[3] for v in verdict)
    print(f"ATS ECE lower than TS on {n_lower} of {len(verdict)} datasets (target: at least half)")
    syn = table["synthetic"]
    ratio = syn["ats"][:, 1].mean() / syn["ts"][:, 1].mean()
    print(f"synthetic: ATS ECE / TS ECE = {ratio:.3f} (target <= 0.5)")
    all_met = all(v[1] and v[2] for v in verdict) and 2 * n_lower >= len(verdict) and ratio <= 0.5
    print(f"all targets met: {'yes' if all_met else 'NO'}; total {time.perf_counter() - t0:.0f} s")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
