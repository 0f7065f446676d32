"""Temperature-scaling fit time: gencal vs scikit-learn vs probmetrics (same process, same data).

Usage: ``PYTHONPATH=src python benchmarks/ts_fit_speed.py [--quick] [--threads N]``

Data: logits ``[N, K]`` with labels sampled from ``softmax(z / 1.7)``, N in {1e4, 1e5},
K in {10, 100} (``--quick``: N = 1e4 only, one repeat). Times are the best of ``--repeats`` fits.

- gencal: ``get_calibrator("ts").fit(logits, labels)`` (float64 numpy, Brent root of the NLL
  derivative in log T).
- scikit-learn: ``CalibratedClassifierCV(FrozenEstimator(<logit passthrough>),
  method="temperature")`` (public API; a bounded Brent minimisation of the log loss in log beta).
- probmetrics: ``TemperatureScalingCalibrator().fit_torch(CategoricalLogits(...), labels)``
  (torch float32, 30 bisection steps on the NLL derivative in log beta).

Prints the fit times, each peer's time / gencal's time (> 1 means gencal is faster) and the
fitted temperatures side by side.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from gencal.calibration import get_calibrator


def make_data(n: int, k: int, seed: int = 0, t_star: float = 1.7):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * rng.uniform(0.5, 3.0, size=(n, 1))
    z[np.arange(n), rng.integers(0, k, n)] += rng.uniform(0, 6, n)
    s = z / t_star
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.minimum((p.cumsum(1) < rng.random((n, 1))).sum(1), k - 1)
    return z.astype(np.float32), y.astype(np.int64)


def fit_gencal(z, y):
    return get_calibrator("ts").fit(z, y).temperature_


def fit_sklearn(z, y):
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    class LogitPassthrough(ClassifierMixin, BaseEstimator):
        """A 'classifier' whose decision_function returns its input (precomputed logits)."""

        def fit(self, x, yy):
            self.classes_ = np.arange(x.shape[1])
            return self

        def decision_function(self, x):
            return x

        def predict(self, x):
            return np.argmax(x, axis=1)

    est = LogitPassthrough().fit(z, y)
    cal = CalibratedClassifierCV(FrozenEstimator(est), method="temperature").fit(z, y)
    return 1.0 / float(cal.calibrated_classifiers_[0].calibrators[0].beta_)


def fit_probmetrics(z, y):
    from probmetrics.calibrators import TemperatureScalingCalibrator
    from probmetrics.distributions import CategoricalLogits

    cal = TemperatureScalingCalibrator()
    cal.fit_torch(CategoricalLogits(torch.from_numpy(z)), torch.from_numpy(y))
    return 1.0 / float(cal.invtemp_)


PEERS = {"gencal": fit_gencal, "sklearn": fit_sklearn, "probmetrics": fit_probmetrics}


def bench(fn, z, y, repeats: int):
    fn(z, y)  # warm-up: imports and numba/JIT compilation are not timed
    best, t_fit = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        t_fit = fn(z, y)
        best = min(best, time.perf_counter() - t0)
    return best, t_fit


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N = 1e4 only, one repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (probmetrics)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = [10_000] if args.quick else [10_000, 100_000]
    repeats = 1 if args.quick else args.repeats
    print(f"torch threads={args.threads}; best of {repeats}; times in ms")
    head = f"{'N':>7} {'K':>4} | " + " ".join(f"{p:>12}" for p in PEERS)
    head += " | " + " ".join(f"{p + '/gencal':>20}" for p in PEERS if p != "gencal")
    head += " | temperatures (" + ", ".join(PEERS) + ")"
    print(head)
    for n in sizes:
        for k in (10, 100):
            z, y = make_data(n, k)
            res = {}
            for name, fn in PEERS.items():
                try:
                    res[name] = bench(fn, z, y, repeats)
                except Exception as exc:  # a peer missing or broken: say so, keep going
                    print(f"  {name} failed: {type(exc).__name__}: {exc}")
                    res[name] = (np.nan, np.nan)
            g = res["gencal"][0]
            line = f"{n:>7} {k:>4} | " + " ".join(f"{res[p][0] * 1e3:>12.1f}" for p in PEERS)
            line += " | " + " ".join(f"{res[p][0] / g:>20.2f}" for p in PEERS if p != "gencal")
            line += " | " + ", ".join(f"{res[p][1]:.5f}" for p in PEERS)
            print(line)


if __name__ == "__main__":
    main()
