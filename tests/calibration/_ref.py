"""Independent reference implementations and synthetic data for the calibration tests.

Written naively on purpose (loops, scipy) so that they share no code with gencal.calibration.
"""

from __future__ import annotations

import numpy as np


def ref_softmax(z: np.ndarray) -> np.ndarray:
    out = np.empty_like(z, dtype=np.float64)
    for i, row in enumerate(np.asarray(z, dtype=np.float64)):
        e = np.exp(row - row.max())
        out[i] = e / e.sum()
    return out


def ref_nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true labels (probabilities in)."""
    p = np.asarray(probs, dtype=np.float64)[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.maximum(p, 1e-300))))


def ref_ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE, equal-width bins (lo, hi], a confidence of 0 goes to the first bin."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    total = 0.0
    for b in range(n_bins):
        lo, hi = edges[b], edges[b + 1]
        m = (conf > lo) & (conf <= hi) if b > 0 else (conf >= lo) & (conf <= hi)
        if m.any():
            total += m.sum() * abs(conf[m].mean() - correct[m].mean())
    return float(total / len(labels))


def sample_labels(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One label per row drawn from the row's categorical distribution."""
    u = rng.random((probs.shape[0], 1))
    return np.minimum((probs.cumsum(axis=1) < u).sum(axis=1), probs.shape[1] - 1)


def random_logits(n: int, k: int, rng: np.random.Generator, spread: float = 3.0) -> np.ndarray:
    """Logits with a wide range of confidences (per-sample scale times Gaussian)."""
    scale = rng.uniform(0.2, spread, size=(n, 1))
    z = rng.normal(size=(n, k)) * scale
    z[np.arange(n), rng.integers(0, k, n)] += rng.uniform(0, 2 * spread, n)
    return z


def true_temperature(conf: np.ndarray) -> np.ndarray:
    """Confidence-dependent miscalibration: under-confident at low confidence (T < 1),
    over-confident at high confidence (T > 1)."""
    return np.exp(np.log(0.6) + (np.log(2.5) - np.log(0.6)) * np.clip((conf - 0.3) / 0.7, 0, 1))


def confidence_dependent_data(n: int, k: int, rng: np.random.Generator):
    """(logits, labels): labels ~ softmax(z / T*(conf(z))) with :func:`true_temperature`."""
    z = random_logits(n, k, rng)
    conf = ref_softmax(z).max(axis=1)
    t = true_temperature(conf)
    y = sample_labels(ref_softmax(z / t[:, None]), rng)
    return z, y


def single_temperature_data(n: int, k: int, rng: np.random.Generator, t: float = 1.8):
    z = random_logits(n, k, rng)
    y = sample_labels(ref_softmax(z / t), rng)
    return z, y
