"""Fused CPU kernels (numba) for the top-label statistics of a probability matrix.

One pass over ``probs [N, K]`` gives, per row, the confidence ``c_i = max_k p_ik``, whether the
argmax (first maximal index) equals the label, ``p_{i,y_i}``, and, for validation, the smallest
and largest entry, the worst ``|sum_k p_ik - 1|`` and the number of labels outside ``0..K-1``.
``torch.max(dim=1)`` + ``amin`` + ``sum(dim=1)`` read the matrix three times (then ``gather``)
and torch's value+index reduction is slow for short rows; this kernel reads each row once while
it is in L1 and is several times faster (see docs/metrics.md, "Speed and memory"). Two more
kernels: the top-label bin sums (:func:`bin_sums`) and the classwise per (class, bin) sums in one
pass (:func:`classwise_sums`).

How the row pass stays vectorised: for non-negative finite floats the IEEE bit pattern read as a
signed integer is ordered exactly like the float (and equal floats have equal bits), so the row
maximum and minimum are integer reductions, which the compiler vectorises without any fast-math
assumption about NaN. The argmax is then not searched: ``argmax == y`` iff ``p_y`` equals the
maximum and no earlier entry does (first maximal index on ties), a vectorised comparison over
``p_{:y}``. Rows with a sign bit set (negative values, ``-0.0``) or with NaN/inf break the
ordering; the kernel reports them (smallest bits < 0, largest bits >= the bits of ``inf``) and the
caller then uses the plain torch path, so the results are those of ``torch.max`` for every input.
The row sum uses re-associated float adds (vectorised; it only feeds the tolerance check).

Work is split into row chunks run on ``torch.get_num_threads()`` Python threads (the kernel
releases the GIL). numba is optional at import: without it (or with ``GENCAL_DISABLE_NUMBA=1``)
:func:`available` is false and the callers use torch.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import torch

__all__ = ["MIN_NUMEL", "RowStats", "available", "bin_sums", "classwise_sums", "row_stats"]

#: inputs with fewer entries use the torch path (no JIT compilation for small calls)
MIN_NUMEL = 1 << 16
#: rows per chunk handed to one thread (about 0.4-4 MB of float32 for K = 100-1000)
_CHUNK_ENTRIES = 1 << 20

_STATE: dict[str, Any] = {}


def _build() -> dict[str, Any]:
    """Import numba and define the kernels (once); ``{}`` when numba is unavailable."""
    if os.environ.get("GENCAL_DISABLE_NUMBA", "") not in ("", "0"):
        return {}
    try:
        import numba
    except Exception:  # pragma: no cover - depends on the environment
        return {}
    fastmath = {"reassoc", "nsz", "contract"}  # no nnan/ninf: NaN tests stay meaningful

    def jit(fn):
        try:
            return numba.njit(nogil=True, fastmath=fastmath, cache=True)(fn)
        except Exception:  # pragma: no cover - e.g. no writable cache location
            return numba.njit(nogil=True, fastmath=fastmath)(fn)

    @jit
    def rows_kernel(
        x, xb, y, zero, conf_bits, correct, p_true_bits, istats, fstats
    ):  # pragma: no cover
        n, k = x.shape
        lo = xb[0, 0]
        hi = xb[0, 0]
        bad = 0
        worst = 0.0
        for i in range(n):
            m = xb[i, 0]
            mn = xb[i, 0]
            s = zero
            for j in range(k):
                v = xb[i, j]
                m = max(m, v)
                mn = min(mn, v)
                s += x[i, j]
            lo = min(lo, mn)
            hi = max(hi, m)
            conf_bits[i] = m
            worst = max(worst, abs(np.float64(s) - 1.0))
            yi = y[i]
            if yi < 0 or yi >= k:
                bad += 1
                correct[i] = False
                p_true_bits[i] = 0
                continue
            vy = xb[i, yi]
            p_true_bits[i] = vy
            ok = vy == m
            if ok:
                hit = False
                for j in range(yi):
                    hit |= xb[i, j] == m
                ok = not hit
            correct[i] = ok
        istats[0] = lo
        istats[1] = hi
        istats[2] = bad
        fstats[0] = worst

    @jit
    def bin_of(v, edges):  # pragma: no cover
        # exact: #{interior edges < v} (bins (lo, hi], edges rounded to their dtype); NaN: last
        # bin, as torch.bucketize. The first guess int(v * nb) is corrected by the two loops.
        nb = edges.shape[0] + 1
        g = v * nb
        if g != g:
            return nb - 1
        if g <= 0:
            b = 0
        elif g >= nb - 1:
            b = nb - 1
        else:
            b = int(g)
        while b > 0 and v <= edges[b - 1]:
            b -= 1
        while b < nb - 1 and v > edges[b]:
            b += 1
        return b

    @jit
    def bins_kernel(conf, correct, edges, count, s_conf, s_acc):  # pragma: no cover
        for i in range(conf.shape[0]):
            c = conf[i]
            b = bin_of(c, edges)
            count[b] += 1.0
            s_conf[b] += np.float64(c)
            if correct[i]:
                s_acc[b] += 1.0

    @jit
    def classwise_kernel(x, y, edges, count, s_p, s_y, low_cnt, low_sum):  # pragma: no cover
        n, k = x.shape
        thr = edges[0]
        for i in range(n):
            for j in range(k):  # vectorised: entries <= the first edge (and NaN) -> first bin
                v = x[i, j]
                low = not (v > thr)
                low_sum[j] += np.float64(v) if low else 0.0
                low_cnt[j] += 1.0 if low else 0.0
            for j in range(k):  # the few entries above it (fewer than n_bins per row)
                v = x[i, j]
                if v > thr:
                    b = bin_of(v, edges)
                    count[j, b] += 1.0
                    s_p[j, b] += np.float64(v)
            yi = y[i]
            if 0 <= yi < k:
                s_y[yi, bin_of(x[i, yi], edges)] += 1.0

    return {"rows": rows_kernel, "bins": bins_kernel, "classwise": classwise_kernel}


def _kernels() -> dict[str, Any]:
    if "k" not in _STATE:
        _STATE["k"] = _build()
    return _STATE["k"]


def available() -> bool:
    """Whether the numba kernels can be used (numba importable, not disabled)."""
    return bool(_kernels())


def _eligible(x: torch.Tensor) -> bool:
    return (
        x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and x.dim() == 2
        and x.numel() >= MIN_NUMEL
        and x.shape[1] >= 1
        and x.is_contiguous()
        and not x.requires_grad
        and available()
    )


class RowStats(NamedTuple):
    """Output of :func:`row_stats` (tensors share memory with numpy arrays)."""

    conf: torch.Tensor  # [N] max_k p_ik, input dtype
    correct: torch.Tensor  # [N] bool, argmax (first maximal index) == label
    p_true: torch.Tensor  # [N] p_{i, y_i} (0 where the label is out of range)
    min_value: float  # smallest entry
    max_value: float  # largest entry
    worst_row_error: float  # max_i |sum_k p_ik - 1|
    bad_labels: int  # labels outside 0..K-1


def row_stats(probs: torch.Tensor, labels: torch.Tensor) -> RowStats | None:
    """Fused row pass over ``probs [N, K]`` (CPU, float32/float64, contiguous, N >= 1).

    Returns ``None`` when the kernel does not apply (numba unavailable, small or non-contiguous
    input, another device) **or** when the matrix holds a negative-signed value, NaN or inf; the
    caller then takes the torch path, which also produces the detailed error messages.
    """
    if not _eligible(probs) or probs.shape[0] == 0:
        return None
    kern = _kernels()["rows"]
    x = probs.detach().numpy()
    ity = np.int32 if x.dtype == np.float32 else np.int64
    xb = x.view(ity)
    y = labels.detach().numpy()
    n, k = x.shape
    zero = x.dtype.type(0)
    conf_bits = np.empty(n, ity)
    correct = np.empty(n, np.bool_)
    p_true_bits = np.empty(n, ity)
    rows = max(1, _CHUNK_ENTRIES // k)
    starts = list(range(0, n, rows))
    istats = np.zeros((len(starts), 3), np.int64)
    fstats = np.zeros((len(starts), 1), np.float64)

    def run(c: int) -> None:
        a = starts[c]
        b = min(a + rows, n)
        kern(x[a:b], xb[a:b], y[a:b], zero, conf_bits[a:b], correct[a:b], p_true_bits[a:b],
             istats[c], fstats[c])  # fmt: skip

    threads = min(torch.get_num_threads(), len(starts))
    if threads > 1:
        with ThreadPoolExecutor(threads) as ex:
            list(ex.map(run, range(len(starts))))
    else:
        for c in range(len(starts)):
            run(c)
    lo_bits, hi_bits = int(istats[:, 0].min()), int(istats[:, 1].max())
    inf_bits = int(np.array(np.inf, x.dtype).view(ity))
    if lo_bits < 0 or hi_bits >= inf_bits:
        return None
    lo = float(np.array(lo_bits, ity).view(x.dtype))
    hi = float(np.array(hi_bits, ity).view(x.dtype))
    worst = float(fstats.max())
    return RowStats(
        torch.from_numpy(conf_bits.view(x.dtype)),
        torch.from_numpy(correct),
        torch.from_numpy(p_true_bits.view(x.dtype)),
        lo,
        hi,
        worst if math.isfinite(worst) else math.inf,
        int(istats[:, 2].sum()),
    )


def bin_sums(
    conf: torch.Tensor, correct: torch.Tensor, edges: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """Per-bin ``(count, sum of conf, sum of correct)`` (float64) for the bins
    ``#{interior edges < c}`` (same as ``torch.bucketize(conf, edges, right=False)``), or ``None``
    when the kernel does not apply (then use bucketize + bincount)."""
    if (
        conf.device.type != "cpu"
        or conf.dtype not in (torch.float32, torch.float64)
        or conf.numel() < MIN_NUMEL // 16
        or conf.requires_grad
        or edges.dtype != conf.dtype
        or not available()
    ):
        return None
    nb = edges.shape[0] + 1
    count = np.zeros(nb, np.float64)
    s_conf = np.zeros(nb, np.float64)
    s_acc = np.zeros(nb, np.float64)
    _kernels()["bins"](
        np.ascontiguousarray(conf.detach().numpy()),
        np.ascontiguousarray(correct.detach().numpy()),
        np.ascontiguousarray(edges.numpy()),
        count,
        s_conf,
        s_acc,
    )
    return torch.from_numpy(count), torch.from_numpy(s_conf), torch.from_numpy(s_acc)


def classwise_sums(
    probs: torch.Tensor, labels: torch.Tensor, edges: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """Per (class, bin) ``(count, sum of p_k, count of y == k)`` (``[K, n_bins]`` float64) in one
    pass, each entry in bin ``#{interior edges < p}`` (``edges`` in the dtype of ``probs``), or
    ``None`` when the kernel does not apply. Entries not above the first edge (NaN included) go
    to the first bin, whose sum is clamped at 0 as in the torch path."""
    if (
        not _eligible(probs)
        or labels.device.type != "cpu"
        or edges.dtype != probs.dtype
        or edges.numel() == 0
    ):
        return None
    kern = _kernels()["classwise"]
    x = probs.detach().numpy()
    y = labels.detach().numpy()
    e = np.ascontiguousarray(edges.numpy())
    n, k = x.shape
    nb = e.shape[0] + 1
    threads = max(1, min(torch.get_num_threads(), n))
    parts = min(n, 2 * threads) if threads > 1 else 1
    rows = -(-n // parts)

    def run(c: int) -> list[np.ndarray]:
        out = [np.zeros((k, nb)), np.zeros((k, nb)), np.zeros((k, nb)), np.zeros(k), np.zeros(k)]
        a = c * rows
        b = min(n, a + rows)
        if a < b:
            kern(x[a:b], y[a:b], e, *out)
        return out

    if parts > 1:
        with ThreadPoolExecutor(threads) as ex:
            outs = list(ex.map(run, range(parts)))
    else:
        outs = [run(0)]
    count, s_p, s_y, low_cnt, low_sum = (sum(o[i] for o in outs) for i in range(5))
    count[:, 0] += low_cnt
    s_p[:, 0] += np.maximum(low_sum, 0.0)
    return torch.from_numpy(count), torch.from_numpy(s_p), torch.from_numpy(s_y)
