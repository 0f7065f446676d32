"""Data pipeline speed on this CPU: batch augmentation vs a training step, and JPEG cache loads.

1. Pipeline: ``InMemoryLoader`` over CIFAR-10-sized uint8 data (batch 128; gather, uint8 -> float,
   random crop with padding 4 + flip, normalise), batches/s; the same for a naive per-sample
   Python-loop augmentation (the torchvision-style baseline) for comparison.
2. Training step of the smallest CIFAR model (``resnet20``, batch 128: forward, cross-entropy,
   backward, SGD step), steps/s. Reported: pipeline batches/s / training steps/s (target >= 10).
3. CIFAR-10 JPEG archive (``../shared/data/cifar10-jpeg.zip``): first load (decode all 60,000
   JPEGs + write the cache) and cached load of the train split (target < 2 s).

All timings run in this process, back to back; the machine is shared, so absolute numbers are
noisy and the ratios are the figures to compare.

    PYTHONPATH=src python benchmarks/data_pipeline.py [--quick] [--threads 2] [--zip PATH]

``--quick`` times fewer batches/steps and keeps the JPEG cache in ``$GENCAL_DATA`` (or
``~/.cache/gencal/data``) so that only the first run decodes; the full run decodes into a fresh
temporary cache to time the first load honestly.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gencal.data import BatchAugment, InMemoryLoader, load_dataset
from gencal.data.cache import default_root


def find_zip() -> Path | None:
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "shared" / "data" / "cifar10-jpeg.zip"
        if cand.is_file():
            return cand
    return None


def time_pipeline(images, labels, n_batches: int, batch: int = 128) -> float:
    """Batches per second of InMemoryLoader with crop + flip + normalisation."""
    loader = InMemoryLoader(
        images,
        labels,
        batch_size=batch,
        shuffle=True,
        seed=0,
        augment=BatchAugment(crop_padding=4, flip=True),
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
    )
    it = iter(loader)
    next(it)  # warm-up
    t0 = time.perf_counter()
    done = 0
    while done < n_batches:
        try:
            _x, _y = next(it)
        except StopIteration:
            it = iter(loader)
            continue
        done += 1
    return done / (time.perf_counter() - t0)


def time_naive(images, n_batches: int, batch: int = 128) -> float:
    """Batches per second of a per-sample Python loop (pad, crop, flip, normalise per image)."""
    rng = np.random.default_rng(0)
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(3, 1, 1)
    t0 = time.perf_counter()
    for _ in range(n_batches):
        idx = rng.integers(0, len(images), batch)
        out = []
        for i in idx:
            x = torch.from_numpy(images[i]).permute(2, 0, 1).float().div(255)
            x = F.pad(x, (4, 4, 4, 4))
            dy, dx = rng.integers(0, 9, 2)
            x = x[:, dy : dy + 32, dx : dx + 32]
            if rng.random() < 0.5:
                x = x.flip(2)
            out.append((x - mean) / std)
        torch.stack(out)
    return n_batches / (time.perf_counter() - t0)


def time_train_step(n_steps: int, batch: int = 128) -> float:
    """Training steps per second of resnet20 (the smallest CIFAR model) at batch 128."""
    from gencal.models import get_model

    torch.manual_seed(0)
    model = get_model("resnet20", num_classes=10)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    step()  # warm-up
    times = []
    for _ in range(n_steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return 1.0 / statistics.median(times)


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer batches; reuse the JPEG cache")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--zip", type=Path, default=None, help="path of cifar10-jpeg.zip")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    res: dict[str, float] = {}

    zip_path = args.zip or find_zip()
    images = labels = None
    if zip_path is not None and zip_path.is_file():
        if args.quick:
            cache_root = default_root()
            tmp = None
        else:
            tmp = tempfile.TemporaryDirectory(prefix="gencal-bench-")
            cache_root = Path(tmp.name)
        t0 = time.perf_counter()
        load_dataset("cifar10_jpeg", root=cache_root, path=zip_path, split="test")  # builds all
        res["jpeg_first_load_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ds = load_dataset("cifar10_jpeg", root=cache_root, path=zip_path, split="train")
        res["jpeg_cached_load_train_s"] = time.perf_counter() - t0
        images, labels = ds.images, ds.labels
        print(f"CIFAR-10 JPEG ({zip_path}):")
        note = " (cache already present)" if args.quick and res["jpeg_first_load_s"] < 5 else ""
        print(f"  first load (decode 60,000 JPEGs + cache): {res['jpeg_first_load_s']:.2f} s{note}")
        print(
            f"  cached load of train (50,000 images):     {res['jpeg_cached_load_train_s']:.2f} s  (target < 2 s)"
        )
        if tmp is not None:
            tmp.cleanup()
    else:
        print("cifar10-jpeg.zip not found: using random CIFAR-sized data, no JPEG timings")
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (50000, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, 50000)

    n_pipe = 60 if args.quick else 390
    n_naive = 5 if args.quick else 20
    n_steps = 5 if args.quick else 20
    res["pipeline_batches_per_s"] = time_pipeline(images, labels, n_pipe)
    res["naive_loop_batches_per_s"] = time_naive(images, n_naive)
    res["resnet20_steps_per_s"] = time_train_step(n_steps)
    res["pipeline_over_step"] = res["pipeline_batches_per_s"] / res["resnet20_steps_per_s"]
    res["pipeline_over_naive"] = res["pipeline_batches_per_s"] / res["naive_loop_batches_per_s"]
    print(f"Batch 128, {args.threads} threads:")
    print(f"  InMemoryLoader + BatchAugment: {res['pipeline_batches_per_s']:8.1f} batches/s")
    print(f"  per-sample Python loop:        {res['naive_loop_batches_per_s']:8.1f} batches/s")
    print(f"  resnet20 training step:        {res['resnet20_steps_per_s']:8.2f} steps/s")
    print(f"  pipeline / training step:      {res['pipeline_over_step']:8.1f}x  (target >= 10x)")
    print(f"  pipeline / per-sample loop:    {res['pipeline_over_naive']:8.1f}x")
    return res


if __name__ == "__main__":
    main()
