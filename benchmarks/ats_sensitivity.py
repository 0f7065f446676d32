"""Sensitivity of ATS to its hyperparameters, against plain temperature scaling (TS).

Usage: ``PYTHONPATH=src python benchmarks/ats_sensitivity.py [--quick] [--seeds S]``

Synthetic scenarios (logits ``z`` with a wide spread of confidences; labels drawn from a
"true" calibrated model; a calibration split of ``n_cal`` samples and a 20,000-sample test split):

- ``conf-dep``: labels ~ ``softmax(z / T*(c))`` with ``log T*`` rising linearly from
  ``log 0.6`` at raw confidence 0.3 to ``log 2.5`` at 1 (under-confident when unsure,
  over-confident when sure): TS cannot fit it.
- ``single-T``: labels ~ ``softmax(z / 1.8)``: one temperature is the truth.
- ``sharp``: larger logits, ``T* = 2``, small split: the regime of docs/method.md §2.6 where unshrunk
  per-piece temperatures overfit (nearly-all-correct pieces drive T towards 0).

Settings: the default (pieces and shrinkage chosen by cross-validation), two other CV rules,
and one-at-a-time changes from a fixed base without CV (``n_pieces=6, shrinkage=30``, other
hyperparameters at their defaults: ``min_piece_size=100, objective="nll",
shrinkage_mode="pseudo"``), plus the unshrunk setting of §2.6. Printed: mean test ECE (15 equal-width bins, %) and NLL over seeds for
TS and for ATS, and the mean paired difference ATS - TS with its standard error (negative =
ATS better).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gencal.calibration import get_calibrator


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _logits(n, k, rng, spread):
    z = rng.normal(size=(n, k)) * rng.uniform(0.2, spread, size=(n, 1))
    z[np.arange(n), rng.integers(0, k, n)] += rng.uniform(0, 2 * spread, n)
    return z


def _labels(p, rng):
    return np.minimum((p.cumsum(1) < rng.random((len(p), 1))).sum(1), p.shape[1] - 1)


def conf_dep(n, k, rng):
    z = _logits(n, k, rng, 3.0)
    c = _softmax(z).max(1)
    lt = np.log(0.6) + (np.log(2.5) - np.log(0.6)) * np.clip((c - 0.3) / 0.7, 0, 1)
    return z, _labels(_softmax(z / np.exp(lt)[:, None]), rng)


def single_t(n, k, rng):
    z = _logits(n, k, rng, 3.0)
    return z, _labels(_softmax(z / 1.8), rng)


def sharp(n, k, rng):
    z = _logits(n, k, rng, 6.0)
    return z, _labels(_softmax(z / 2.0), rng)


def ece(p, y, n_bins=15):
    conf, correct = p.max(1), (p.argmax(1) == y)
    idx = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    sc = np.bincount(idx, conf, n_bins)
    sa = np.bincount(idx, correct.astype(float), n_bins)
    return float(np.abs(sc - sa).sum() / len(y))


def nll(p, y):
    return float(-np.mean(np.log(np.maximum(p[np.arange(len(y)), y], 1e-300))))


#: The fixed base of the one-at-a-time settings (no cross-validation).
FIXED = {"n_pieces": 6, "shrinkage": 30.0}

SETTINGS = {
    "default (CV)": {},
    "CV cv_se=1": {"cv_se": 1.0},
    "CV metric=ece": {"cv_metric": "ece", "cv_se": 1.0},
    "fixed M=6 s=30": FIXED,
    "M=4": {**FIXED, "n_pieces": 4},
    "M=10": {**FIXED, "n_pieces": 10},
    "M=16": {**FIXED, "n_pieces": 16},
    "min=25": {**FIXED, "min_piece_size": 25},
    "min=300": {**FIXED, "min_piece_size": 300},
    "obj=ece": {**FIXED, "objective": "ece"},
    "shrink=0": {**FIXED, "shrinkage": 0},
    "shrink=10": {**FIXED, "shrinkage": 10},
    "shrink=100": {**FIXED, "shrinkage": 100},
    "shrink=300": {**FIXED, "shrinkage": 300},
    "linear k=30": {**FIXED, "shrinkage_mode": "linear"},
    "linear k=100": {**FIXED, "shrinkage_mode": "linear", "shrinkage": 100},
    "no slope clip": {**FIXED, "clip_slope": False},
    "step": {**FIXED, "interpolation": "step"},
    "bin-wise TS": {
        "n_pieces": 6,
        "shrinkage": 0,
        "min_piece_size": 0,
        "interpolation": "step",
        "clip_slope": False,
    },
    "§2.6 unshrunk": {"shrinkage": 0, "min_piece_size": 0, "n_pieces": 8, "t_min": 1e-3},
}

SCENARIOS = {
    "conf-dep K=10 n=1300": (conf_dep, 10, 1300),
    "conf-dep K=10 n=5000": (conf_dep, 10, 5000),
    "conf-dep K=100 n=5000": (conf_dep, 100, 5000),
    "single-T K=10 n=1300": (single_t, 10, 1300),
    "single-T K=100 n=5000": (single_t, 100, 5000),
    "sharp K=10 n=500": (sharp, 10, 500),
}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, K=10 scenarios only")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--n-test", type=int, default=20_000)
    args = ap.parse_args(argv)
    seeds = range(2 if args.quick else args.seeds)
    scenarios = {k: v for k, v in SCENARIOS.items() if not (args.quick and "K=100" in k)}
    t0 = time.perf_counter()
    print(f"seeds={len(seeds)}, test n={args.n_test}; ECE in %, 15 equal-width bins")
    for sname, (gen, k, n_cal) in scenarios.items():
        data = []
        for s in seeds:
            rng = np.random.default_rng(1000 + s)
            z, y = gen(n_cal, k, rng)
            zt, yt = gen(args.n_test, k, rng)
            p = get_calibrator("ts").fit(z, y).predict_proba(zt)
            data.append((z, y, zt, yt, ece(p, yt), nll(p, yt)))
        ts_ece = np.mean([d[4] for d in data])
        ts_nll = np.mean([d[5] for d in data])
        print(f"\n== {sname}:  TS  ECE {100 * ts_ece:6.2f}  NLL {ts_nll:.4f}")
        print(f"{'ATS setting':<18} {'ECE':>7} {'dECE (se)':>16} {'NLL':>8} {'dNLL (se)':>20}")
        for name, hp in SETTINGS.items():
            de, dn, es, ns = [], [], [], []
            for z, y, zt, yt, e_ts, n_ts in data:
                p = get_calibrator("ats", **hp).fit(z, y).predict_proba(zt)
                e, nl = ece(p, yt), nll(p, yt)
                es.append(e)
                ns.append(nl)
                de.append(e - e_ts)
                dn.append(nl - n_ts)
            se = lambda v: np.std(v, ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan  # noqa: E731
            print(
                f"{name:<18} {100 * np.mean(es):7.2f} {100 * np.mean(de):+8.2f} ({100 * se(de):5.2f})"
                f" {np.mean(ns):8.4f} {np.mean(dn):+11.4f} ({se(dn):.4f})"
            )
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
