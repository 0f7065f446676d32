"""Shared fixtures and independent naive references for the metrics tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch


def make_probs(n: int, k: int, seed: int = 0, scale: float = 3.0, dtype=torch.float32):
    """Random logits -> (probs, labels, logits); labels partly follow the logits."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=g, dtype=torch.float64) * scale
    p = torch.softmax(z, dim=1)
    y = torch.multinomial(torch.softmax(z / 1.5, dim=1), 1, generator=g).squeeze(1)
    return p.to(dtype), y, z.to(dtype)


def naive_bin(c: float, n_bins: int, dtype=np.float64) -> int:
    """Bin of c for bins (e_b, e_{b+1}] with e_b = b/n rounded to dtype; 0 in the first bin."""
    for b in range(n_bins):
        if c <= float(dtype((b + 1) / n_bins)):
            return b
    return n_bins - 1


def naive_ece(conf, correct, n_bins: int, norm: str = "l1") -> float:
    """Loop-based binned calibration error (top label); edges rounded to conf's dtype."""
    dtype = conf.dtype.type if isinstance(conf, np.ndarray) else np.float64
    conf = [float(c) for c in conf]
    correct = [float(a) for a in correct]
    n = len(conf)
    sums = [[0, 0.0, 0.0] for _ in range(n_bins)]
    for c, a in zip(conf, correct):
        b = naive_bin(c, n_bins, dtype)
        sums[b][0] += 1
        sums[b][1] += c
        sums[b][2] += a
    gaps = [(cnt, abs(sa / cnt - sc / cnt)) for cnt, sc, sa in sums if cnt > 0]
    if norm == "l1":
        return sum(cnt / n * g for cnt, g in gaps)
    if norm == "l2":
        return math.sqrt(sum(cnt / n * g * g for cnt, g in gaps))
    return max(g for _, g in gaps)


def top_label(probs):
    p = np.asarray(torch.as_tensor(probs).double())
    return p.max(axis=1), p.argmax(axis=1)


@pytest.fixture(autouse=True, scope="package")
def _one_thread():
    """Small tensors: thread wake-ups on the shared 2-core machine cost more than the work."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
