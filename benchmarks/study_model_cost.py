"""Training-step cost of the CPU study's network against ResNet-20 (why the study uses it).

Times forward + backward + SGD step on one batch of 128 CIFAR-sized images, channels-last, one
thread, interleaving the two models (median of ``--steps`` steps after one warm-up each), and
prints images/s and the ratio ResNet-20 / ``cnn32_fc`` (the ``cnn32`` with ``head="flatten"``
and ``hidden=512`` of ``configs/model/cnn32_fc.yaml``).

Usage:
    python benchmarks/study_model_cost.py [--steps 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gencal.models import get_model


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    models = {
        "cnn32_fc": get_model("cnn32", num_classes=10, in_channels=3, head="flatten", hidden=512),
        "resnet20": get_model("resnet20", num_classes=10, in_channels=3),
    }
    x = torch.randn(128, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (128,))
    opts = {}
    for name, m in models.items():
        m.to(memory_format=torch.channels_last)
        opts[name] = torch.optim.SGD(m.parameters(), lr=0.01)
    times: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(args.steps + 1):
        for name, m in models.items():
            t0 = time.perf_counter()
            opts[name].zero_grad()
            torch.nn.functional.cross_entropy(m(x), y).backward()
            opts[name].step()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v[1:]) for k, v in times.items()}
    for k, v in med.items():
        print(f"{k:<9} {128 / v:8.0f} images/s")
    print(f"resnet20 / cnn32_fc step time: {med['resnet20'] / med['cnn32_fc']:.2f}")


if __name__ == "__main__":
    main()
