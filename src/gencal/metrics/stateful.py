"""Stateful (torchmetrics) forms of the metrics: ``update`` per batch, ``compute`` at the end.

Every class subclasses :class:`torchmetrics.Metric`, so it works under DDP: the states are
per-bin / per-class float64 sums (``dist_reduce_fx="sum"``), which all-reduce exactly, except
:class:`AdaptiveCalibrationError`, whose equal-mass bins need every confidence (``"cat"`` states,
memory O(N)). ``compute`` returns the same value as the functional metric on the concatenated
batches. ``update(preds, target)`` takes probabilities, or logits when the metric was built with
``inputs="logits"`` (explicit: nothing is guessed); binary problems may pass one column, the
positive class's score (sigmoid convention).
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from gencal._checks import GencalInputError
from gencal.metrics import functional
from gencal.metrics._inputs import Inputs, Prepared, check_inputs, prepare
from gencal.metrics.binning import (
    calibration_error_from_bins,
    check_n_bins,
    check_norm,
    equal_mass_bin_sums,
    equal_width_bin_sums,
)

__all__ = [
    "Accuracy",
    "AdaptiveCalibrationError",
    "BrierScore",
    "ClasswiseCalibrationError",
    "ExpectedCalibrationError",
    "MaximumCalibrationError",
    "NegativeLogLikelihood",
]

_F64 = torch.float64


class _ScoreMetric(Metric):
    """Common input handling: probabilities (or logits, ``inputs="logits"``) and integer labels."""

    is_differentiable = False
    full_state_update = False

    def __init__(self, *, inputs: Inputs = "probs", validate_args: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self.inputs = check_inputs(inputs)
        self.validate_args = bool(validate_args)

    def _prepare(self, preds: Any, target: Any) -> Prepared:
        return prepare(preds, target, self.inputs, validate_args=self.validate_args)


class ExpectedCalibrationError(_ScoreMetric):
    """Top-label ECE with equal-width bins; states: per-bin count / sum conf / sum correct.

    Same conventions as :func:`gencal.metrics.expected_calibration_error` (bins ``(lo, hi]``,
    edges rounded to the input dtype, empty bins weigh 0, ``norm`` l1/l2/max).

    Args:
        n_bins: number of bins.
        norm: ``"l1"``, ``"l2"`` or ``"max"``.
        inputs: ``"probs"`` (default) or ``"logits"``: what ``update`` receives.
        validate_args: check values (NaN/inf, simplex, label range).
        **kwargs: passed to :class:`torchmetrics.Metric`.

    Shape:
        ``update(preds [N, K] (or [N] / [N, 1] binary), target [N])``; ``compute()`` -> 0-d float64.

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> metric = ExpectedCalibrationError(n_bins=5)
        >>> metric.update(probs[:2], labels[:2])
        >>> metric.update(probs[2:], labels[2:])
        >>> round(metric.compute().item(), 4)  # expected_calibration_error of all four
        0.3
    """

    higher_is_better = False

    def __init__(self, n_bins: int = 15, norm: str = "l1", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_bins = check_n_bins(n_bins)
        self.norm = check_norm(norm)
        for name in ("count", "sum_conf", "sum_correct"):
            self.add_state(name, torch.zeros(n_bins, dtype=_F64), dist_reduce_fx="sum")

    def update(self, preds: Any, target: Any) -> None:
        prep = self._prepare(preds, target)
        count, s_conf, s_acc = equal_width_bin_sums(
            prep.conf, prep.correct, self.n_bins, prep.edge_dtype
        )
        self.count += count.to(self.count.device)
        self.sum_conf += s_conf.to(self.count.device)
        self.sum_correct += s_acc.to(self.count.device)

    def compute(self) -> torch.Tensor:
        return torch.tensor(
            calibration_error_from_bins(self.count, self.sum_conf, self.sum_correct, self.norm),
            dtype=_F64,
        )


class MaximumCalibrationError(ExpectedCalibrationError):
    """MCE: the largest |accuracy - confidence| over non-empty equal-width bins.

    Args:
        n_bins: number of bins.
        inputs: ``"probs"`` (default) or ``"logits"``: what ``update`` receives.
        validate_args: check values (NaN/inf, simplex, label range).
        **kwargs: passed to :class:`torchmetrics.Metric`.

    Shape:
        ``update(preds [N, K] (or [N] / [N, 1] binary), target [N])``; ``compute()`` -> 0-d float64.

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> metric = MaximumCalibrationError(n_bins=5)
        >>> metric.update(probs, labels)
        >>> round(metric.compute().item(), 4)
        0.6
    """

    def __init__(self, n_bins: int = 15, **kwargs: Any) -> None:
        super().__init__(n_bins=n_bins, norm="max", **kwargs)


class AdaptiveCalibrationError(_ScoreMetric):
    """AdaECE (equal-mass bins). Keeps every confidence (``cat`` states): memory O(N).

    Args:
        n_bins: number of bins.
        norm: ``"l1"``, ``"l2"`` or ``"max"``.
        inputs: ``"probs"`` (default) or ``"logits"``: what ``update`` receives.
        validate_args: check values (NaN/inf, simplex, label range).
        **kwargs: passed to :class:`torchmetrics.Metric`.

    Shape:
        ``update(preds [N, K] (or [N] / [N, 1] binary), target [N])``; ``compute()`` -> 0-d float64.

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> metric = AdaptiveCalibrationError(n_bins=2)
        >>> metric.update(probs, labels)
        >>> round(metric.compute().item(), 4)
        0.15
    """

    higher_is_better = False

    def __init__(self, n_bins: int = 15, norm: str = "l1", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_bins = check_n_bins(n_bins)
        self.norm = check_norm(norm)
        self.add_state("conf", [], dist_reduce_fx="cat")
        self.add_state("correct", [], dist_reduce_fx="cat")

    def update(self, preds: Any, target: Any) -> None:
        prep = self._prepare(preds, target)
        self.conf.append(prep.conf)
        self.correct.append(prep.correct)

    def compute(self) -> torch.Tensor:
        if not self.conf or (isinstance(self.conf, torch.Tensor) and self.conf.numel() == 0):
            return torch.tensor(0.0, dtype=_F64)
        conf, correct = dim_zero_cat(self.conf), dim_zero_cat(self.correct)
        sorted_conf, order = torch.sort(conf, stable=True)
        bins = equal_mass_bin_sums(sorted_conf, correct[order], self.n_bins)
        return torch.tensor(calibration_error_from_bins(*bins, norm=self.norm), dtype=_F64)


class ClasswiseCalibrationError(_ScoreMetric):
    """Classwise ECE (Kull et al. 2019); states: ``[K, n_bins]`` count / sum p_k / count y=k.

    Args:
        num_classes: K.
        n_bins: number of bins.
        norm: ``"l1"``, ``"l2"`` or ``"max"``.
        inputs: ``"probs"`` (default) or ``"logits"``: what ``update`` receives.
        validate_args: check values (NaN/inf, simplex, label range).
        **kwargs: passed to :class:`torchmetrics.Metric`.

    Shape:
        ``update(preds [N, K] (or [N] / [N, 1] binary), target [N])``; ``compute()`` -> 0-d float64.

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> metric = ClasswiseCalibrationError(num_classes=2, n_bins=5)
        >>> metric.update(probs, labels)
        >>> round(metric.compute().item(), 4)
        0.3
    """

    higher_is_better = False

    def __init__(self, num_classes: int, n_bins: int = 15, norm: str = "l1", **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise GencalInputError(f"num_classes: expected a positive integer, got {num_classes!r}")
        self.num_classes = num_classes
        self.n_bins = check_n_bins(n_bins)
        self.norm = check_norm(norm)
        for name in ("count", "sum_prob", "sum_label"):
            self.add_state(name, torch.zeros(num_classes, n_bins, dtype=_F64), dist_reduce_fx="sum")

    def update(self, preds: Any, target: Any) -> None:
        prep = self._prepare(preds, target)
        if prep.num_classes != self.num_classes:
            raise GencalInputError(
                f"preds: has {prep.num_classes} classes, the metric was built for {self.num_classes}"
            )
        count, s_p, s_y = functional.classwise_bins(
            prep.probs, prep.labels, prep.p_true, self.n_bins, prep.edge_dtype
        )
        dev = self.count.device
        self.count += count.to(dev)
        self.sum_prob += s_p.to(dev)
        self.sum_label += s_y.to(dev)

    def compute(self) -> torch.Tensor:
        val = functional.classwise_from_bins(self.count, self.sum_prob, self.sum_label, self.norm)
        return torch.tensor(val, dtype=_F64)


class _MeanMetric(_ScoreMetric):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("total", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")
        self.add_state("n", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def _per_sample(self, prep: Prepared) -> torch.Tensor:
        raise NotImplementedError

    def update(self, preds: Any, target: Any) -> None:
        prep = self._prepare(preds, target)
        self.total += self._per_sample(prep).to(_F64).sum().to(self.total.device)
        self.n += prep.n

    def compute(self) -> torch.Tensor:
        return self.total / self.n if float(self.n) > 0 else torch.tensor(float("nan"), dtype=_F64)


class NegativeLogLikelihood(_MeanMetric):
    """Mean NLL: clamped ``-log max(p_y, eps)`` from probabilities, exact from logits.

    Args:
        eps: lower clamp of the true-class probability (probabilities only).
        inputs: ``"probs"`` (default) or ``"logits"``: what ``update`` receives.
        validate_args: check values (NaN/inf, simplex, label range).
        **kwargs: passed to :class:`torchmetrics.Metric`.

    Shape:
        ``update(preds [N, K] (or [N] / [N, 1] binary), target [N])``; ``compute()`` -> 0-d float64.

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> metric = NegativeLogLikelihood()
        >>> metric.update(probs, labels)
        >>> round(metric.compute().item(), 4)
        0.4004
    """

    higher_is_better = False

    def __init__(self, eps: float = functional.NLL_EPS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.eps = float(eps)

    def _per_sample(self, prep: Prepared) -> torch.Tensor:
        return functional.nll_per_sample(prep, self.eps)


class BrierScore(_MeanMetric):
    """Mean over samples of ``sum_k (p_k - [y == k])^2``.

    Args:
        inputs: ``"probs"`` (default) or ``"logits"``: what ``update`` receives.
        validate_args: check values (NaN/inf, simplex, label range).
        **kwargs: passed to :class:`torchmetrics.Metric`.

    Shape:
        ``update(preds [N, K] (or [N] / [N, 1] binary), target [N])``; ``compute()`` -> 0-d float64.

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> metric = BrierScore()
        >>> metric.update(probs, labels)
        >>> round(metric.compute().item(), 4)
        0.25
    """

    higher_is_better = False

    def _per_sample(self, prep: Prepared) -> torch.Tensor:
        return functional.brier_per_sample(prep)


class Accuracy(_MeanMetric):
    """Top-1 accuracy (argmax, first maximal index on ties).

    Args:
        inputs: ``"probs"`` (default) or ``"logits"``: what ``update`` receives.
        validate_args: check values (NaN/inf, simplex, label range).
        **kwargs: passed to :class:`torchmetrics.Metric`.

    Shape:
        ``update(preds [N, K] (or [N] / [N, 1] binary), target [N])``; ``compute()`` -> 0-d float64.

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
        >>> labels = torch.tensor([0, 1, 1, 1])
        >>> metric = Accuracy()
        >>> metric.update(probs, labels)
        >>> metric.compute().item()
        0.75
    """

    higher_is_better = True

    def _per_sample(self, prep: Prepared) -> torch.Tensor:
        return prep.correct
