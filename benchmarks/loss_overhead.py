"""Cost of each training loss relative to cross-entropy, measured in the same process.

1. Loss level: forward + backward of each registered loss on random logits ``[N, K]``
   (N in {128, 1024}, K in {10, 100, 1000}), as a ratio to ``torch.nn.functional.cross_entropy``.
   The losses run with their defaults (``validate_args=True``: the NaN/label-range checks are
   part of the cost); ``gce*`` is GCE with ``validate_args=False``.
2. Training step: one SGD step (forward, loss, backward, update) of ResNet-20 on a random CIFAR
   batch of 128, GCE vs CE.

Every timing of a loss is paired with an adjacent timing of ``F.cross_entropy`` (order alternating,
losses in a rotating order) and the median over rounds of the paired ratios is reported, so that
load from other processes on this shared machine hits both sides of a ratio alike; the ratios are
still noisy (tens of percent for the sub-millisecond cases).

    PYTHONPATH=src python benchmarks/loss_overhead.py [--quick] [--threads 1] [--no-train-step]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from gencal.losses import get_loss, list_losses

SIZES_N = (128, 1024)
SIZES_K = (10, 100, 1000)
CPU = torch.device("cpu")


def _loss_callables() -> dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    fns: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
        "F.cross_entropy": F.cross_entropy
    }
    for name in list_losses():
        fns[name] = get_loss(name)
    fns["gce*"] = get_loss("gce", validate_args=False)
    return fns


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_losses(
    n: int, k: int, rounds: int, number: int, device: torch.device = CPU
) -> tuple[float, dict[str, float], dict[str, float]]:
    """Median CE time (s); per loss, the median over rounds of (loss time / CE time), and the
    ratio of the fastest loss block to the fastest CE block.

    Each loss is timed right next to a block of ``F.cross_entropy`` (order alternating between
    rounds), so that the ratio compares two measurements taken under the same machine load.
    """
    g = torch.Generator().manual_seed(n * 7919 + k)
    logits = (3 * torch.randn(n, k, generator=g)).to(device).requires_grad_()
    target = torch.randint(0, k, (n,), generator=g).to(device)
    fns = _loss_callables()

    def block(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> float:
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(number):
            logits.grad = None
            fn(logits, target).backward()
        _sync(device)
        return (time.perf_counter() - t0) / number

    for fn in fns.values():  # warm-up
        block(fn)
    base = fns.pop("F.cross_entropy")
    names = list(fns)
    ce_times: list[float] = []
    x_times: dict[str, list[float]] = {name: [] for name in names}
    ratios: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            if r % 2 == 0:
                t_ce, t_x = block(base), block(fns[name])
            else:
                t_x, t_ce = block(fns[name]), block(base)
            ce_times.append(t_ce)
            x_times[name].append(t_x)
            ratios[name].append(t_x / t_ce)
    medians = {name: statistics.median(v) for name, v in ratios.items()}
    # best-case ratio: fastest loss block over fastest CE block (least disturbed by other load)
    mins = {name: min(v) / min(ce_times) for name, v in x_times.items()}
    return statistics.median(ce_times), medians, mins


def time_train_step(
    steps: int, warmup: int, batch: int = 128, device: torch.device = CPU
) -> tuple[float, float, float]:
    """Median step time of ResNet-20 with CE and with GCE, and the median of paired ratios."""
    from gencal.models import get_model

    def make(loss_name: str) -> Callable[[], None]:
        torch.manual_seed(0)
        model = get_model("resnet20", num_classes=10).train().to(device)
        model = model.to(memory_format=torch.channels_last)
        x = torch.randn(batch, 3, 32, 32).to(device).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (batch,)).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        loss_fn = get_loss(loss_name)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()
            _sync(device)

        return step

    runs = {"ce": make("ce"), "gce": make("gce")}
    for step in runs.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {"ce": [], "gce": []}
    ratios = []
    for i in range(steps):
        order = ["ce", "gce"] if i % 2 == 0 else ["gce", "ce"]
        pair = {}
        for name in order:
            t0 = time.perf_counter()
            runs[name]()
            pair[name] = time.perf_counter() - t0
            times[name].append(pair[name])
        ratios.append(pair["gce"] / pair["ce"])
    return (
        statistics.median(times["ce"]),
        statistics.median(times["gce"]),
        statistics.median(ratios),
    )


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--no-train-step", action="store_true", help="skip the ResNet-20 step")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rounds, number = (3, 2) if args.quick else (21, 5)
    steps, warmup = (3, 1) if args.quick else (30, 3)

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); medians over {rounds} rounds"
    )
    print("Loss forward+backward time / F.cross_entropy forward+backward time (same process)\n")
    ce_time: dict[tuple[int, int], float] = {}
    by_size: dict[tuple[int, int], dict[str, float]] = {}
    by_size_min: dict[tuple[int, int], dict[str, float]] = {}
    for n in SIZES_N:
        for k in SIZES_K:
            ce_time[(n, k)], by_size[(n, k)], by_size_min[(n, k)] = time_losses(
                n, k, rounds, number, device
            )
    names = list(next(iter(by_size.values())))
    cols = [f"N={n},K={k}" for n, k in by_size]
    ratios: dict[str, dict[tuple[int, int], float]] = {}
    best: dict[str, dict[tuple[int, int], float]] = {}
    for title, table, store in (
        ("median of paired ratios", by_size, ratios),
        ("best case: fastest loss block / fastest CE block", by_size_min, best),
    ):
        print(f"[{title}]")
        print(f"{'loss':<18}" + "".join(f"{c:>15}" for c in cols))
        print(f"{'(CE time, us)':<18}" + "".join(f"{1e6 * ce_time[key]:>15.1f}" for key in by_size))
        for name in names:
            store[name] = {key: res[name] for key, res in table.items()}
            print(f"{name:<18}" + "".join(f"{store[name][key]:>15.2f}" for key in table))
        print()
    results = by_size

    calib = [m for m in names if m not in ("ce", "gce*")]
    print("Cheapest calibration loss (excluding ce) per size, by median / best-case ratio:")
    for key in results:
        a = min(calib, key=lambda m, key=key: ratios[m][key])
        b = min(calib, key=lambda m, key=key: best[m][key])
        print(
            f"  N={key[0]:>4}, K={key[1]:>4}: median {a} ({ratios[a][key]:.2f}x; gce "
            f"{ratios['gce'][key]:.2f}x), best case {b} ({best[b][key]:.2f}x; gce "
            f"{best['gce'][key]:.2f}x)"
        )

    out: dict[str, object] = {"loss_ratios": ratios, "loss_ratios_best": best}
    if not args.no_train_step:
        ce_t, gce_t, ratio = time_train_step(steps, warmup, device=device)
        print(
            f"\nResNet-20 training step, batch 128, {steps} interleaved pairs: "
            f"CE {1e3 * ce_t:.1f} ms, GCE {1e3 * gce_t:.1f} ms, "
            f"median paired ratio GCE/CE = {ratio:.3f} ({100 * (ratio - 1):+.1f}%)"
        )
        out["train_step"] = {"ce_s": ce_t, "gce_s": gce_t, "ratio": ratio}
        key = (128, 10)
        if key in ce_time:  # the loss-level difference at the step's shape, a less noisy bound
            extra = (ratios["gce"][key] - ratios["ce"][key]) * ce_time[key]
            print(
                f"Loss-level extra time of GCE over gencal's CE at N=128, K=10: {1e6 * extra:.0f} us "
                f"= {100 * extra / ce_t:.3f}% of the CE training step"
            )
    return out


if __name__ == "__main__":
    main()
