"""GCE's two implementations, plain autograd vs the fused forward/backward, in the same process.

1. Loss level: forward + backward of ``GenerativeCrossEntropyLoss`` on random logits ``[N, K]``
   for N in {128, 1024}, K in {10, 100, 1000}.
2. Training step: one SGD step (forward, loss, backward, update) of
   - ResNet-20 on a random CIFAR batch of 128 (K = 10), and
   - a small MLP (``in_features -> 256 -> K``) at the same (N, K) as the loss level, where the
     loss is a larger share of the step.

For every case the two implementations are timed in adjacent blocks (order alternating) and the
median over rounds of the paired ratios ``fused / plain`` is printed (below 1: fused is faster),
so that load from other processes hits both sides of a ratio alike.

    PYTHONPATH=src python benchmarks/gce_step.py [--quick] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from gencal.losses import GenerativeCrossEntropyLoss

SIZES_N = (128, 1024)
SIZES_K = (10, 100, 1000)
IMPLEMENTATIONS = ("plain", "fused")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def paired(
    fns: dict[str, Callable[[], None]], rounds: int, number: int, device: torch.device
) -> tuple[dict[str, float], float]:
    """Median block time of each of the two callables and the median paired ratio fused/plain."""

    def block(fn: Callable[[], None]) -> float:
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        _sync(device)
        return (time.perf_counter() - t0) / number

    for fn in fns.values():  # warm-up
        block(fn)
    times: dict[str, list[float]] = {k: [] for k in fns}
    ratios = []
    for r in range(rounds):
        order = IMPLEMENTATIONS if r % 2 == 0 else IMPLEMENTATIONS[::-1]
        t = {name: block(fns[name]) for name in order}
        for name, v in t.items():
            times[name].append(v)
        ratios.append(t["fused"] / t["plain"])
    return {k: statistics.median(v) for k, v in times.items()}, statistics.median(ratios)


def loss_case(n: int, k: int, device: torch.device) -> dict[str, Callable[[], None]]:
    g = torch.Generator().manual_seed(n * 7919 + k)
    logits = (3 * torch.randn(n, k, generator=g)).to(device).requires_grad_()
    target = torch.randint(0, k, (n,), generator=g).to(device)

    def make(implementation: str) -> Callable[[], None]:
        loss_fn = GenerativeCrossEntropyLoss(implementation=implementation)

        def run() -> None:
            logits.grad = None
            loss_fn(logits, target).backward()

        return run

    return {name: make(name) for name in IMPLEMENTATIONS}


def step_case(
    model_fn: Callable[[], nn.Module], x: torch.Tensor, y: torch.Tensor, device: torch.device
) -> dict[str, Callable[[], None]]:
    def make(implementation: str) -> Callable[[], None]:
        torch.manual_seed(0)
        model = model_fn().train().to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        loss_fn = GenerativeCrossEntropyLoss(implementation=implementation)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()

        return step

    return {name: make(name) for name in IMPLEMENTATIONS}


def _mlp(k: int, d: int = 128) -> Callable[[], nn.Module]:
    return lambda: nn.Sequential(nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, k))


def _fmt(t: float) -> str:
    return f"{t * 1e3:8.3f} ms"


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds (a smoke run)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-resnet", action="store_true", help="skip the ResNet-20 step")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rounds = 3 if args.quick else 15
    out: dict[str, dict[str, float]] = {}

    def report(label: str, times: dict[str, float], ratio: float) -> None:
        out[label] = {**times, "ratio": ratio}
        print(
            f"  {label:28s} plain {_fmt(times['plain'])}  fused {_fmt(times['fused'])}"
            f"  fused/plain {ratio:5.3f}"
        )

    print(f"GCE fused vs plain, device={device}, threads={args.threads}, {rounds} rounds")
    print("loss level (forward + backward):")
    for n in SIZES_N:
        for k in SIZES_K:
            number = max(1, int(2e5 // (n * k))) if not args.quick else 1
            report(f"loss N={n},K={k}", *paired(loss_case(n, k, device), rounds, number, device))
    print("training step (forward, loss, backward, SGD update):")
    g = torch.Generator().manual_seed(0)
    for n in SIZES_N:
        for k in SIZES_K:
            x = torch.randn(n, 128, generator=g).to(device)
            y = torch.randint(0, k, (n,), generator=g).to(device)
            number = 1 if args.quick else 5
            fns = step_case(_mlp(k), x, y, device)
            report(f"MLP step N={n},K={k}", *paired(fns, rounds, number, device))
    if not args.no_resnet:
        from gencal.models import get_model

        x = torch.randn(128, 3, 32, 32, generator=g).to(device)
        y = torch.randint(0, 10, (128,), generator=g).to(device)
        fns = step_case(lambda: get_model("resnet20", num_classes=10), x, y, device)
        report("ResNet-20 step N=128,K=10", *paired(fns, rounds, 1, device))
    return out


if __name__ == "__main__":
    main()
