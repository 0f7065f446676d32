"""Number of ``aten::`` ops that one forward+backward of a loss dispatches (CPU profiler).

On a GPU, small batches (e.g. ResNet-20 at batch 128) are bound by per-op host overhead (kernel
launches, dispatcher) rather than by arithmetic, so the op count is the proxy for that regime
that can be measured without a GPU. Counted on the CPU for ``logits [N, K]`` (the input
``clone`` included, 3 ops), for ``validate_args`` True and False; ``gce/plain`` and
``gce/fused`` are GCE's two implementations (``implementation=``). On the CPU, an op whose
operands differ in dtype (a Python scalar, a bool mask) also dispatches an ``aten::to`` copy
that CUDA does not, so these counts overstate a GPU's launches somewhat.

    PYTHONPATH=src python benchmarks/loss_op_counts.py [--n 128] [--k 10] [--top 0]
"""

from __future__ import annotations

import argparse
import collections

import torch
from torch.profiler import ProfilerActivity, profile

from gencal.losses import get_loss

VARIANTS = ("ce", "focal", "gce/plain", "gce/fused")


def count_ops(name: str, validate: bool, n: int, k: int):
    """``collections.Counter`` of the aten ops of one forward+backward (after a warm-up)."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(n, k, generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    base, _, implementation = name.partition("/")
    kw = {"implementation": implementation} if implementation else {}
    loss_fn = get_loss(base, validate_args=validate, **kw)
    x = z.clone().requires_grad_(True)
    loss_fn(x, y).backward()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        x = z.clone().requires_grad_(True)
        loss_fn(x, y).backward()
    return collections.Counter(e.name for e in prof.events() if e.name.startswith("aten::"))


def main(argv: list[str] | None = None) -> dict[str, dict[bool, int]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--top", type=int, default=0, help="also list the N most frequent ops")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"aten ops of one forward+backward, N={args.n}, K={args.k}")
    totals: dict[str, dict[bool, int]] = {}
    for name in VARIANTS:
        counts = {}
        for validate in (True, False):
            counts[validate] = count_ops(name, validate, args.n, args.k)
        row = "  ".join(f"validate_args={v}: {sum(c.values()):4d}" for v, c in counts.items())
        totals[name] = {v: sum(c.values()) for v, c in counts.items()}
        print(f"  {name:30s} {row}")
        if args.top:
            for v, c in counts.items():
                print(f"    validate_args={v}: {c.most_common(args.top)}")
    return totals


if __name__ == "__main__":
    main()
