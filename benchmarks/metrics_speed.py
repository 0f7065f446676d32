"""Speed / memory benchmark of gencal.metrics against torchmetrics, netcal and scikit-learn.

Run:  PYTHONPATH=src python benchmarks/metrics_speed.py [--quick] [--threads T]

For each size (N x K = 10^6 x 100 and 10^5 x 1000; --quick: 10^5 x 100 and 10^4 x 1000) it
times, in this one process, the median of ``--repeat`` rounds in which every function is called
in turn (interleaved, so that load from other processes hits all alike; time.perf_counter):
- gencal ``calibration_report(logits, labels)`` (every metric: accuracy, balanced accuracy,
  NLL, Brier, ECE/ECE-l2/MCE, AdaECE, classwise ECE, smooth ECE, AURC) and the functional ECE,
  MCE and AdaECE on probabilities (with input validation, the default), and the ECE with the
  numba kernels switched off (the torch path, i.e. the previous implementation);
- the same metrics from torchmetrics (``multiclass_calibration_error``, l1 and max), netcal
  (``ECE``, ``MCE``, ``ECE(equal_intervals=False)``) and scikit-learn (``log_loss``,
  ``balanced_accuracy_score``) on the same probabilities, printing time ratios and the absolute
  differences of the values (the conventions differ only for confidences exactly on a bin edge).
Peak extra memory of the report is measured in a fresh subprocess: /proc/self/clear_refs resets
the peak RSS (VmHWM) after the inputs are built, and the peak minus the RSS before the call is
reported as a multiple of the input size (logits + labels). This sees torch's allocations, which
tracemalloc does not. The machine is shared: the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from gencal.metrics import (
    adaptive_calibration_error,
    balanced_accuracy,
    calibration_report,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
)

try:
    from gencal.metrics import _kernels
except ImportError:  # an older gencal (before the numba kernels): before/after comparisons
    _kernels = None


def make_inputs(n: int, k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=g)
    logits.mul_(3.0)
    labels = torch.randint(0, k, (n,), generator=g)
    # make the labels agree with the logits often enough to give a realistic accuracy
    hit = torch.rand(n, generator=g) < 0.6
    labels[hit] = logits[hit].argmax(1)
    return logits, labels


def _vm(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def memory_child(n: int, k: int) -> None:
    """Subprocess body: peak RSS increase of calibration_report over the resident inputs."""
    logits, labels = make_inputs(n, k)
    input_bytes = logits.numel() * logits.element_size() + labels.numel() * labels.element_size()
    t0 = time.perf_counter()
    # lazy imports, thread pools, numba import + kernel compilation (or load from its cache)
    calibration_report(torch.softmax(logits[:1000], dim=1), labels[:1000], inputs="probs")
    first_s = time.perf_counter() - t0
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM to the current RSS
    before = _vm("VmRSS")
    calibration_report(logits, labels)
    peak = _vm("VmHWM")
    print(
        json.dumps({"input_bytes": input_bytes, "extra_bytes": peak - before, "first_s": first_s})
    )


def measure_memory(n: int, k: int, threads: int) -> dict[str, float] | None:
    cmd = [sys.executable, __file__, "--memory-child", f"{n}x{k}", "--threads", str(threads)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
        rec = json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, OSError) as exc:
        print(f"  memory measurement failed: {exc}")
        return None
    rec["ratio"] = rec["extra_bytes"] / rec["input_bytes"]
    return rec


def peers(
    probs: torch.Tensor, labels: torch.Tensor, logits: torch.Tensor, k: int, n_bins: int
) -> dict[str, tuple[str, Callable]]:
    """``{peer name: (our matching entry, callable)}``."""
    out: dict[str, tuple[str, Callable]] = {}
    try:
        from torchmetrics.functional.classification import multiclass_calibration_error as tm_ce

        def tm(norm: str, validate: bool = True) -> Callable:
            return lambda: float(
                tm_ce(probs, labels, k, n_bins=n_bins, norm=norm, validate_args=validate)
            )

        out["torchmetrics ECE"] = ("ECE", tm("l1"))
        out["torchmetrics ECE (no validation)"] = ("ECE (no validation)", tm("l1", False))
        out["torchmetrics MCE"] = ("MCE", tm("max"))
    except ImportError as exc:
        print(f"torchmetrics unavailable: {exc}")
    try:
        from netcal.metrics import ECE, MCE

        pn, yn = probs.numpy(), labels.numpy()
        out["netcal ECE"] = ("ECE", lambda: float(ECE(bins=n_bins).measure(pn, yn)))
        out["netcal MCE"] = ("MCE", lambda: float(MCE(bins=n_bins).measure(pn, yn)))
        out["netcal AdaECE"] = (
            "AdaECE",
            lambda: float(ECE(bins=n_bins, equal_intervals=False).measure(pn, yn)),
        )
    except ImportError as exc:
        print(f"netcal unavailable: {exc}")
    try:
        from sklearn.metrics import balanced_accuracy_score, log_loss

        # float64 probabilities: sklearn clips at the dtype's eps (1.2e-7 for float32)
        p64 = torch.softmax(logits.double(), dim=1).numpy()
        yn = labels.numpy()
        pred = probs.argmax(1).numpy()
        out["sklearn log_loss (float64)"] = (
            "NLL",
            lambda: float(log_loss(yn, p64, labels=np.arange(k))),
        )
        out["sklearn balanced acc (given argmax)"] = (
            "balanced acc",
            lambda: float(balanced_accuracy_score(yn, pred)),
        )
    except ImportError as exc:
        print(f"scikit-learn unavailable: {exc}")
    try:
        import torch_uncertainty  # noqa: F401

        print("torch-uncertainty is importable, but not benchmarked here")
    except Exception as exc:
        print(f"torch-uncertainty unavailable ({type(exc).__name__}: {exc}); not compared")
    return out


def numba_off(fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` with the numba kernels switched off: the torch path (the previous implementation)."""

    def call() -> Any:
        if _kernels is None:
            return fn()
        old = _kernels.MIN_NUMEL
        _kernels.MIN_NUMEL = 1 << 62
        try:
            return fn()
        finally:
            _kernels.MIN_NUMEL = old

    return call


def interleaved(
    fns: dict[str, Callable[[], Any]], repeat: int
) -> dict[str, tuple[float, float, Any]]:
    """One untimed warm-up call each, then ``repeat`` rounds calling every function in turn
    (so that load from other processes hits all of them alike); ``{name: (median, min, value)}``."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    values = {name: fn() for name, fn in fns.items()}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            values[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return {name: (statistics.median(t), min(t), values[name]) for name, t in times.items()}


def run_size(n: int, k: int, repeat: int, n_bins: int = 15) -> dict[str, Any]:
    print(f"\n=== N = {n:,}  K = {k:,}  ({n * k * 4 / 2**20:.0f} MiB of float32 logits) ===")
    logits, labels = make_inputs(n, k)
    probs = torch.softmax(logits, dim=1)
    report = calibration_report(logits, labels)
    fns: dict[str, Callable[[], Any]] = {
        "report (logits=)": lambda: calibration_report(logits, labels),
        "report (probs=)": lambda: calibration_report(probs, labels, inputs="probs"),
        "ECE": lambda: expected_calibration_error(probs, labels, n_bins),
        "ECE (no validation)": lambda: expected_calibration_error(
            probs, labels, n_bins, validate_args=False
        ),
        "ECE, numba off (torch path)": numba_off(
            lambda: expected_calibration_error(probs, labels, n_bins)
        ),
        "MCE": lambda: maximum_calibration_error(probs, labels, n_bins),
        "AdaECE": lambda: adaptive_calibration_error(probs, labels, n_bins),
        "NLL": lambda: negative_log_likelihood(probs, labels),
        "balanced acc": lambda: balanced_accuracy(probs, labels),
    }
    peer_fns = peers(probs, labels, logits, k, n_bins)
    res = interleaved({**fns, **{name: fn for name, (_, fn) in peer_fns.items()}}, repeat)
    print(f"median (min) of {repeat} interleaved rounds")
    for name in fns:
        med, best, val = res[name]
        if name == "NLL":
            val = report["nll"]  # the report's exact log-softmax NLL from the logits
        shown = f"value {val:.8f}" if isinstance(val, float) else ""
        print(f"gencal {name:<30s} {med:7.3f} s ({best:.3f})   {shown}")
    print("(NLL value: the report's exact log-softmax NLL from the logits)")
    print(f"{'peer':<36s} {'time s':>8s} {'ours s':>8s} {'peer/ours':>10s} {'|diff|':>10s}")
    rows = []
    for name, (key, _) in peer_fns.items():
        t_peer, _, v_peer = res[name]
        t_ours, _, v_ours = res[key]
        if key == "NLL":
            v_ours = report["nll"]
        diff = abs(v_ours - v_peer)
        rows.append({"peer": name, "t_peer": t_peer, "t_ours": t_ours, "diff": diff})
        print(f"{name:<36s} {t_peer:8.3f} {t_ours:8.3f} {t_peer / t_ours:9.1f}x {diff:10.2e}")
    t_off = res["ECE, numba off (torch path)"][0]
    print(f"ECE: numba kernels {t_off / res['ECE'][0]:.1f}x faster than the torch path")
    return {"n": n, "k": k, "t_report": res["report (logits=)"][0], "rows": rows, "report": report}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        n, k = (int(v) for v in args.memory_child.split("x"))
        memory_child(n, k)
        return 0
    sizes = [(10**5, 100), (10**4, 1000)] if args.quick else [(10**6, 100), (10**5, 1000)]
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"cpus {os.cpu_count()}, load average {os.getloadavg()}"
    )
    results = [run_size(n, k, args.repeat) for n, k in sizes]
    ok = True
    print("\n=== targets ===")
    for res in results:
        tag = f"{res['n']:.0e} x {res['k']}"
        for row in res["rows"]:
            if "ECE" in row["peer"] and "Ada" not in row["peer"]:
                ratio = row["t_peer"] / row["t_ours"]
                good = ratio >= 5
                ok &= good
                print(
                    f"[{'ok' if good else 'MISS'}] {tag}: ECE {ratio:.1f}x faster than {row['peer']}"
                )
            tol = 1e-6
            good = row["diff"] <= tol
            ok &= good
            print(
                f"[{'ok' if good else 'MISS'}] {tag}: {row['peer']} value within {tol:g} "
                f"(|diff| = {row['diff']:.1e})"
            )
    big = next((r for r in results if r["n"] == 10**6 and r["k"] == 100), None)
    if big is not None:
        good = big["t_report"] < 2.0
        ok &= good
        print(
            f"[{'ok' if good else 'MISS'}] full report on 1e6 x 100 in {big['t_report']:.2f} s (< 2 s)"
        )
    if not args.no_memory:
        for n, k in sizes:
            mem = measure_memory(n, k, args.threads)
            if mem is None:
                ok = False
                continue
            good = mem["ratio"] < 3.0
            ok &= good
            print(
                f"[{'ok' if good else 'MISS'}] {n:.0e} x {k}: peak extra memory of the report "
                f"{mem['extra_bytes'] / 2**20:.0f} MiB = {mem['ratio']:.2f}x the input "
                f"({mem['input_bytes'] / 2**20:.0f} MiB; VmHWM - VmRSS in a subprocess)"
            )
            print(
                f"     first call in that fresh process (1000 x {k}, probs=): {mem['first_s']:.2f} s "
                "(imports, numba kernel compilation or cache load)"
            )
    print(f"load average after: {os.getloadavg()}")
    print("ALL TARGETS MET" if ok else "SOME TARGETS MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
