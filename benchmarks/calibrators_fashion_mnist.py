"""Every calibrator on real logits: a small MLP trained on Fashion-MNIST (held-out evaluation).

Usage: ``PYTHONPATH=src python benchmarks/calibrators_fashion_mnist.py [--quick]``

Reads the Debian ``dataset-fashion-mnist`` files (``/usr/share/datasets/fashion-mnist``; override
with ``--root``). Trains an MLP 784-256-256-10 with Adam for ``--epochs`` epochs on 20,000
training images (long enough to become over-confident), then draws ``--splits`` random
calibration splits of ``--n-cal`` images (default 1,300: the small-split case of docs/method.md §2.6)
from the 40,000 unused training images, fits each calibrator on each split and evaluates on the
10,000 test images. Prints mean test ECE (15 equal-width bins, %), NLL and accuracy, and the mean
paired difference to TS with its standard error over splits.
"""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path

import numpy as np
import torch

from gencal.calibration import get_calibrator


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def ece(p, y, n_bins=15):
    conf, correct = p.max(1), (p.argmax(1) == y).astype(float)
    idx = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    return float(
        np.abs(np.bincount(idx, conf, n_bins) - np.bincount(idx, correct, n_bins)).sum() / len(y)
    )


def nll(p, y):
    return float(-np.mean(np.log(np.maximum(p[np.arange(len(y)), y], 1e-300))))


def train_adam_mlp(root: Path, epochs: int = 30):
    """The MLP (784-256-256-10, Adam, lr 1e-3, batch 128) trained on 20,000 training images.

    Returns ``(pool_logits, pool_labels, test_logits, test_labels)``: float64 logits of the 40,000
    held-out training images (the pool that calibration splits are drawn from) and of the test
    set.
    """
    torch.manual_seed(0)
    xtr = _idx(root / "train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255
    ytr = _idx(root / "train-labels-idx1-ubyte.gz").astype(np.int64)
    xte = _idx(root / "t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255
    yte = _idx(root / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(ytr))
    tr, pool = perm[:20_000], perm[20_000:]
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.from_numpy(xtr[tr]), torch.from_numpy(ytr[tr])
    for _ in range(epochs):
        order = torch.randperm(len(y))
        for i in range(0, len(y), 128):
            b = order[i : i + 128]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
    with torch.no_grad():
        pool_logits = model(torch.from_numpy(xtr[pool])).double().numpy()
        test_logits = model(torch.from_numpy(xte)).double().numpy()
    return pool_logits, ytr[pool], test_logits, yte


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--n-cal", type=int, default=1300)
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="8 epochs, 3 splits")
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs, args.splits = 8, 3
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    pool_logits, pool_labels, test_logits, yte = train_adam_mlp(Path(args.root), args.epochs)
    print(f"trained {args.epochs} epochs in {time.perf_counter() - t0:.0f} s")
    names = ["none", "ts", "ts_grid", "ats", "vector", "dirichlet", "isotonic", "histogram"]
    res: dict[str, list[tuple[float, float, float]]] = {n: [] for n in names}
    for s in range(args.splits):
        cal = np.random.default_rng(100 + s).choice(len(pool_labels), args.n_cal, replace=False)
        for n in names:
            p = get_calibrator(n).fit(pool_logits[cal], pool_labels[cal]).predict_proba(test_logits)
            res[n].append((ece(p, yte), nll(p, yte), float((p.argmax(1) == yte).mean())))
    print(f"cal splits: {args.splits} x {args.n_cal} images; test: {len(yte)} images")
    print(
        f"{'calibrator':<11} {'ECE %':>7} {'dECE vs TS (se)':>17} {'NLL':>7} {'dNLL vs TS (se)':>18} {'acc %':>7}"
    )
    ts = np.array(res["ts"])
    for n in names:
        r = np.array(res[n])
        d = r - ts
        se = d.std(axis=0, ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.full(3, np.nan)
        print(
            f"{n:<11} {100 * r[:, 0].mean():7.2f} {100 * d[:, 0].mean():+9.2f} ({100 * se[0]:4.2f})"
            f" {r[:, 1].mean():7.4f} {d[:, 1].mean():+10.4f} ({se[1]:.4f}) {100 * r[:, 2].mean():7.2f}"
        )


if __name__ == "__main__":
    main()
