"""Top-label calibrators (isotonic, histogram): the shared redistribution of probability.

Both recalibrate only the top-label confidence ``c = max_k softmax(z)_k``: a monotone
(isotonic) or piecewise-constant (histogram) map ``c -> c_hat`` is fitted on (confidence,
correct) pairs of the calibration split. The other classes keep their relative sizes and share
the remaining mass: ``p_k = softmax(z)_k * (1 - c_hat) / (1 - c)`` for ``k != top`` (uniformly
``(1 - c_hat) / (K - 1)`` when ``c = 1`` to machine precision). Probabilities are then floored at
``PROB_FLOOR`` and renormalised, and ``transform`` returns their log, so that
``softmax(transform(z)) == predict_proba(z)``. These maps are not strictly increasing, so they
can produce ties and may change the argmax when ``c_hat`` drops below the runner-up's new share;
that is inherent to top-label binning methods (temperature methods never change it).
"""

from __future__ import annotations

import numpy as np

from gencal.calibration.arrays import softmax_np
from gencal.calibration.base import PROB_FLOOR, Calibrator

__all__ = ["TopLabelCalibrator", "rescale_top_label", "top_label_and_correct"]


def rescale_top_label(z: np.ndarray, c_hat: np.ndarray) -> np.ndarray:
    """Probabilities with top-label confidence ``c_hat``, the other classes keeping their ratios.

    ``p_k = softmax(z)_k (1 - c_hat) / (1 - c)`` for the non-top classes (uniform when ``c = 1``),
    floored at ``PROB_FLOOR`` and renormalised.

    Args:
        z: float64 logits.
        c_hat: new top-label confidences (clipped to ``[0, 1]``).

    Shape:
        ``z``: ``[N, K]``; ``c_hat``: ``[N]``; output ``[N, K]``.

    Example:
        >>> z = np.log(np.array([[0.6, 0.3, 0.1]]))
        >>> np.round(rescale_top_label(z, np.array([0.8])), 6).tolist()
        [[0.8, 0.15, 0.05]]
    """
    p = softmax_np(z)
    n, k = p.shape
    top = p.argmax(axis=1)
    rows = np.arange(n)
    c = p[rows, top]
    rest = 1.0 - c
    c_hat = np.clip(c_hat, 0.0, 1.0)
    safe = rest > 1e-12
    factor = np.where(safe, (1.0 - c_hat) / np.where(safe, rest, 1.0), 0.0)
    out = p * factor[:, None]
    out[~safe] = ((1.0 - c_hat[~safe]) / (k - 1))[:, None]
    out[rows, top] = c_hat
    out = np.maximum(out, PROB_FLOOR)
    out /= out.sum(axis=1, keepdims=True)
    return out


class TopLabelCalibrator(Calibrator):
    """Base of calibrators that map the top-label confidence ``c -> c_hat`` (``_top_map``).

    ``predict_proba`` is :func:`rescale_top_label` of the mapped confidence and ``transform``
    its log.

    Example:
        >>> class Shrink(TopLabelCalibrator):  # every top-label confidence becomes 0.5
        ...     def _fit(self, z, y, w):
        ...         pass
        ...
        ...     def _top_map(self, c):
        ...         return np.full_like(c, 0.5)
        >>> z = np.log(np.array([[0.8, 0.1, 0.1], [0.2, 0.6, 0.2]]))
        >>> Shrink().fit(z, np.array([0, 1])).predict_proba(z).round(6).tolist()
        [[0.5, 0.25, 0.25], [0.25, 0.5, 0.25]]
    """

    def _top_map(self, c: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _predict_proba(self, z: np.ndarray) -> np.ndarray:
        c = softmax_np(z).max(axis=1)
        return rescale_top_label(z, self._top_map(c))

    def _transform(self, z: np.ndarray) -> np.ndarray:
        return np.log(self._predict_proba(z))


def top_label_and_correct(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top-label confidence and whether the top label is right (as float), per row.

    Args:
        z: float64 logits.
        y: integer labels.

    Shape:
        ``z``: ``[N, K]``; ``y``: ``[N]``; both outputs ``[N]``.

    Example:
        >>> c, ok = top_label_and_correct(np.log(np.array([[0.6, 0.4]])), np.array([1]))
        >>> np.round(c, 6).tolist(), ok.tolist()
        ([0.6], [0.0])
    """
    p = softmax_np(z)
    return p.max(axis=1), (p.argmax(axis=1) == y).astype(np.float64)
