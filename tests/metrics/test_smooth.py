"""smooth_ece against a direct (non-FFT, loop-based) implementation of Błasiok & Nakkiran's
algorithm as published in relplot 1.0.3 (relplot itself is not installed here; a one-off check
against it agreed to 1e-16, see docs/metrics.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gencal.metrics import smooth_ece
from gencal.metrics.smooth import smooth_ece_from_scores
from tests.metrics.conftest import make_probs


def direct_smece_sigma(f, y, sigma):
    r = f - y

    def grid_apply(vals, m):
        g = np.zeros(m)
        for fi, vi in zip(f, vals):  # linear spreading onto the grid, one sample at a time
            i = min(max(int(fi * (m - 1)), 0), m - 2)
            fr = fi * (m - 1) - i
            g[i] += (1 - fr) * vi
            g[i + 1] += fr * vi
        t = np.linspace(0, 1, m)
        ker = np.array([math.exp(-((x - 0.5) ** 2) / (2 * sigma**2)) for x in t])
        ker /= math.sqrt(2 * math.pi) * sigma
        ext = np.concatenate([g[::-1][:-1], g, g[::-1][1:]])
        return np.convolve(ext, ker, "valid")[m // 2 : m // 2 + m]

    m = max(2000, round(20 / sigma)) // 2 + 1
    n_eval = max(round(10 / sigma), 200)
    te = np.linspace(0, 1, n_eval)

    def interp(yv):
        n = len(yv)
        out = []
        for t in te:
            i = min(max(int(t * (n - 1)), 0), n - 2)
            w = (t - i / (n - 1)) * (n - 1)
            out.append(yv[i] * (1 - w) + yv[i + 1] * w)
        return np.array(out)

    rs = interp(grid_apply(r, m))
    ds = interp(grid_apply(np.ones_like(r), m)) + 1e-4
    return float(np.sum(np.abs(rs / ds) * ds) / np.sum(ds))


def direct_smece(f, y, eps=1e-3):
    def ok(s):
        return s < eps or s < direct_smece_sigma(f, y, s)

    if ok(1.0):
        return direct_smece_sigma(f, y, 1.0)
    hi, lo = 1.0, 0.0
    for _ in range(10):
        mid = (hi + lo) / 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return direct_smece_sigma(f, y, hi)


@pytest.mark.parametrize(("n", "seed"), [(1, 0), (40, 1), (300, 2)])
def test_smooth_ece_matches_direct_implementation(n, seed):
    p, y, _ = make_probs(n, 4, seed=seed, dtype=torch.float64)
    conf = p.max(1).values.numpy()
    correct = (p.argmax(1) == y).numpy().astype(float)
    assert smooth_ece(p, y) == pytest.approx(direct_smece(conf, correct), abs=1e-12)


def test_smooth_ece_with_confidences_exactly_zero_and_one():
    f = np.array([0.0, 0.0, 1.0, 1.0, 0.3, 0.7, 0.5, 0.9])
    y = np.array([0, 1, 1, 0, 0, 1, 1, 1], dtype=float)
    ours = smooth_ece_from_scores(torch.tensor(f), torch.tensor(y).bool())
    assert ours == pytest.approx(direct_smece(f, y), abs=1e-12)


def test_smooth_ece_is_small_when_calibrated_and_tracks_miscalibration():
    rng = np.random.default_rng(0)
    f = rng.uniform(0.3, 1.0, 20000)
    y_cal = rng.random(20000) < f
    y_over = rng.random(20000) < f - 0.15
    s_cal = smooth_ece_from_scores(torch.tensor(f), torch.tensor(y_cal))
    s_over = smooth_ece_from_scores(torch.tensor(f), torch.tensor(y_over))
    assert s_cal < 0.02
    assert s_over == pytest.approx(0.15, abs=0.03)


def test_smooth_ece_float16_and_sigma():
    p, y, _ = make_probs(200, 3, seed=5)
    val, sigma = smooth_ece(p.half(), y, return_sigma=True)
    conf = p.half().float().max(1).values.double().numpy()
    correct = (p.half().float().argmax(1) == y).numpy().astype(float)
    assert val == pytest.approx(direct_smece(conf, correct), abs=1e-12)
    assert 0 < sigma <= 1
