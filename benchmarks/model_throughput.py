"""Training throughput (images/s) of the small and CIFAR models on this CPU, fp32.

One training step = forward, cross-entropy, backward, SGD(momentum) update, at batch 128, on
random inputs of each model's intended size. Each model is timed in the default (contiguous,
NCHW) memory format and in channels_last, steps of the two interleaved in the same process;
the median step time of each is reported, and their ratio.

The machine is shared: other processes compete for the cores, so absolute numbers are noisy;
the ratio between the two memory formats, timed back to back, is the more stable figure.

    PYTHONPATH=src python benchmarks/model_throughput.py [--quick] [--threads 2] [--models a,b]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from gencal.models import get_model

# name -> (in_channels, input size)
MODELS: dict[str, tuple[int, int]] = {
    "mlp": (1, 8),
    "cnn8": (1, 8),
    "cnn28": (1, 28),
    "cnn32": (3, 32),
    "resnet20": (3, 32),
    "resnet32": (3, 32),
    "resnet56": (3, 32),
    "resnet110": (3, 32),
}
QUICK = ["cnn8", "cnn28", "cnn32", "resnet20"]


def make_step(name: str, channels_last: bool, batch: int) -> Callable[[], None]:
    """A closure running one SGD training step of ``name`` on a fixed random batch."""
    cin, size = MODELS.get(name, (3, 32))
    torch.manual_seed(0)
    model = get_model(name, num_classes=10, in_channels=cin).train()
    x = torch.randn(batch, cin, size, size)
    y = torch.randint(0, 10, (batch,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    return step


def measure(name: str, batch: int, rounds: int, warmup: int = 2) -> tuple[float, float]:
    """Median images/s per step for (NCHW, channels_last), the two formats interleaved.

    Steps of the two formats alternate, so that load from other processes hits both alike;
    the median over steps discards the steps slowed down by a burst of contention.
    """
    steps = {False: make_step(name, False, batch), True: make_step(name, True, batch)}
    for step in steps.values():
        for _ in range(warmup):  # allocations, oneDNN kernel selection
            step()
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for fmt, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[fmt].append(time.perf_counter() - t0)
    return batch / statistics.median(times[False]), batch / statistics.median(times[True])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few models, short timing")
    parser.add_argument("--models", default=None, help="comma-separated model names")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=None, help="timed steps per format")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    names = args.models.split(",") if args.models else (QUICK if args.quick else list(MODELS))
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 7)

    print(
        f"training throughput, batch {args.batch}, fp32, {args.threads} threads, "
        f"torch {torch.__version__}, median of {rounds} interleaved steps per format\n"
        "(shared machine: other processes contend for the cores; absolute numbers are noisy)"
    )
    header = f"{'model':<12}{'input':>10}{'params':>12}{'NCHW img/s':>13}{'NHWC img/s':>13}{'NHWC/NCHW':>11}"
    print(header)
    print("-" * len(header))
    for name in names:
        cin, size = MODELS.get(name, (3, 32))
        n_params = sum(p.numel() for p in get_model(name, in_channels=cin).parameters())
        contiguous, channels_last = measure(name, args.batch, rounds)
        print(
            f"{name:<12}{f'{cin}x{size}x{size}':>10}{n_params:>12,}{contiguous:>13.0f}"
            f"{channels_last:>13.0f}{channels_last / contiguous:>11.2f}"
        )


if __name__ == "__main__":
    main()
