"""Property-based checks (hypothesis) of the binned metrics against naive loops, on inputs that
mix one-hot rows (confidences exactly 0 and 1), ties and decimal values on bin edges."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gencal import GencalInputError
from gencal.metrics import (
    adaptive_calibration_error,
    calibration_report,
    classwise_calibration_error,
    expected_calibration_error,
)
from tests.metrics.conftest import naive_ece
from tests.metrics.test_binned_peers import naive_adaece, naive_classwise


@st.composite
def prob_rows(draw):
    k = draw(st.integers(2, 5))
    n = draw(st.integers(1, 25))
    rows = []
    for _ in range(n):
        kind = draw(st.sampled_from(["onehot", "grid", "random"]))
        if kind == "onehot":
            row = np.zeros(k)
            row[draw(st.integers(0, k - 1))] = 1.0
        elif kind == "grid":  # multiples of 0.2: values on the edges of 5 / 10 / 15 bins
            counts = draw(st.lists(st.integers(0, 5), min_size=k, max_size=k).filter(sum))
            row = np.array(counts, dtype=np.float64) / sum(counts)
        else:
            w = np.array(draw(st.lists(st.floats(0.01, 10.0), min_size=k, max_size=k)))
            row = w / w.sum()
        rows.append(row)
    labels = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    return np.array(rows), np.array(labels)


@settings(max_examples=60, deadline=None)
@given(prob_rows(), st.sampled_from([1, 5, 10, 15]))
def test_binned_metrics_equal_naive_loops(data, n_bins):
    p, y = data
    pt, yt = torch.tensor(p), torch.tensor(y)
    conf, pred = p.max(1), p.argmax(1)
    correct = pred == y
    assert expected_calibration_error(pt, yt, n_bins) == pytest.approx(
        naive_ece(conf, correct, n_bins), abs=1e-12
    )
    assert adaptive_calibration_error(pt, yt, n_bins) == pytest.approx(
        naive_adaece(conf, correct, n_bins), abs=1e-12
    )
    assert classwise_calibration_error(pt, yt, n_bins) == pytest.approx(
        naive_classwise(p, y, n_bins), abs=1e-12
    )


def test_negative_infinity_and_report_input_errors():
    with pytest.raises(GencalInputError, match="non-finite"):
        expected_calibration_error(torch.tensor([[float("-inf"), 1.0]]), torch.tensor([0]))
    z = torch.randn(5, 3)
    with pytest.raises(GencalInputError, match="non-finite"):
        calibration_report(z.masked_fill(z > 0.5, float("nan")), torch.tensor([0, 1, 2, 0, 1]))
    with pytest.raises(GencalInputError, match="does not match"):
        calibration_report(z, torch.tensor([0, 1]))
    with pytest.raises(GencalInputError, match="out of range"):
        calibration_report(z, torch.tensor([0, 1, 2, 0, 3]))


def test_report_float16_logits_match_float32():
    g = torch.Generator().manual_seed(5)
    z = (torch.randn(400, 6, generator=g) * 3).half()
    y = torch.randint(0, 6, (400,), generator=g)
    a = calibration_report(z, y)
    b = calibration_report(z.float(), y)
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=1e-6), k
