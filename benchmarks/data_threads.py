"""Batch making on CPU with one intra-op thread vs torch's thread count (``data_threads``).

``InMemoryLoader`` makes each batch (gather, crop + flip on uint8, float conversion and
normalisation) with ``data_threads`` torch intra-op threads, 1 by default on CPU. This times a
pass over CIFAR-sized random uint8 data (batch 128, ``BatchAugment(crop_padding=4, flip=True)``)
with ``data_threads=1`` and with ``data_threads=None`` (torch's setting, ``--threads``), passes
of the two interleaved in this process, and prints the median batches/s of each and their ratio.

    PYTHONPATH=src python benchmarks/data_threads.py [--quick] [--threads 2]

The ratio depends on the machine's load: OpenMP's synchronisation costs most when the cores are
busy with other work.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from gencal.data import BatchAugment, InMemoryLoader


def batches_per_s(loader: InMemoryLoader) -> float:
    t0 = time.perf_counter()
    n = sum(1 for _ in loader)
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer images and rounds")
    ap.add_argument("--threads", type=int, default=2, help="torch's intra-op threads")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    n_images, rounds = (640, 3) if args.quick else (2560, 9)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n_images, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, n_images)
    loaders = {
        name: InMemoryLoader(
            images,
            labels,
            batch_size=128,
            augment=BatchAugment(crop_padding=4, flip=True),
            mean=(0.5, 0.5, 0.5),
            std=(0.25, 0.25, 0.25),
            data_threads=threads,
        )
        for name, threads in (("one_thread", 1), ("torch_threads", None))
    }
    times: dict[str, list[float]] = {name: [] for name in loaders}
    for loader in loaders.values():
        batches_per_s(loader)  # warm-up
    for _ in range(rounds):
        for name, loader in loaders.items():
            times[name].append(batches_per_s(loader))
    res = {f"{name}_batches_per_s": statistics.median(v) for name, v in times.items()}
    res["ratio"] = res["one_thread_batches_per_s"] / res["torch_threads_batches_per_s"]
    print(f"Batch 128, CIFAR-sized uint8, crop + flip + normalise, median of {rounds} passes:")
    print(f"  data_threads=1:    {res['one_thread_batches_per_s']:8.1f} batches/s")
    print(
        f"  data_threads=None: {res['torch_threads_batches_per_s']:8.1f} batches/s ({args.threads} threads)"
    )
    print(f"  ratio:             {res['ratio']:8.2f}x")
    return res


if __name__ == "__main__":
    main()
