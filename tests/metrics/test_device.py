"""On a CUDA device every metric gives the CPU value and keeps tensors on the device.

Skipped where no GPU is present (CI); run on a GPU machine with
``pytest tests/metrics/test_device.py``.
"""

from __future__ import annotations

import pytest
import torch

from gencal.metrics import (
    AdaptiveCalibrationError,
    ClasswiseCalibrationError,
    ExpectedCalibrationError,
    NegativeLogLikelihood,
    adaptive_calibration_error,
    aurc,
    bootstrap_ci,
    brier_score,
    calibration_report,
    classwise_calibration_error,
    expected_calibration_error,
    negative_log_likelihood,
    reliability_data,
    smooth_ece,
)
from tests.metrics.conftest import make_probs

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
def test_functional_metrics_on_cuda_equal_cpu():
    p, y, _ = make_probs(2000, 12, seed=100)
    pc, yc = p.cuda(), y.cuda()
    for fn in (
        expected_calibration_error,
        adaptive_calibration_error,
        classwise_calibration_error,
        negative_log_likelihood,
        brier_score,
        smooth_ece,
        aurc,
    ):
        assert fn(pc, yc) == pytest.approx(fn(p, y), abs=1e-6), fn.__name__


@cuda
def test_report_on_cuda_equals_cpu():
    _, y, z = make_probs(3000, 20, seed=101)
    _, _, z_ood = make_probs(500, 20, seed=102, scale=1.0)
    groups = {c: ("many" if c < 10 else "few") for c in range(20)}
    a = calibration_report(z, y, groups=groups, ood_scores=z_ood)
    b = calibration_report(z.cuda(), y.cuda(), groups=groups, ood_scores=z_ood.cuda())
    assert a.keys() == b.keys()
    for k in a:
        assert b[k] == pytest.approx(a[k], abs=1e-5), k


@cuda
def test_stateful_bootstrap_reliability_on_cuda():
    p, y, _ = make_probs(1000, 8, seed=103)
    for make, fn in (
        (lambda: ExpectedCalibrationError(), expected_calibration_error),
        (lambda: AdaptiveCalibrationError(), adaptive_calibration_error),
        (lambda: ClasswiseCalibrationError(num_classes=8), classwise_calibration_error),
        (lambda: NegativeLogLikelihood(), negative_log_likelihood),
    ):
        m = make().cuda()
        m.update(p[:400].cuda(), y[:400].cuda())
        m.update(p[400:].cuda(), y[400:].cuda())
        assert float(m.compute()) == pytest.approx(fn(p, y), abs=1e-6)
    ci_gpu = bootstrap_ci(expected_calibration_error, p.cuda(), y.cuda(), n_boot=100, seed=4)
    ci_cpu = bootstrap_ci(expected_calibration_error, p, y, n_boot=100, seed=4)
    assert ci_gpu.low == pytest.approx(ci_cpu.low, abs=1e-9)
    d = reliability_data(p.cuda(), y.cuda())
    assert d.count.sum() == 1000
