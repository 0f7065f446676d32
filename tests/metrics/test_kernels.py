"""The fused numba kernels (gencal.metrics._kernels) against the torch path and references.

The kernels only run on inputs above ``MIN_NUMEL`` entries; the ``fused`` fixture lowers that to
1 and splits the rows into many chunks, so that small, hand-made edge cases go through them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gencal import GencalInputError
from gencal.metrics import _kernels, calibration_report, expected_calibration_error
from gencal.metrics._inputs import prepare_from_probs
from gencal.metrics.binning import bin_index

from .conftest import make_probs, naive_bin, naive_ece, top_label

pytestmark = pytest.mark.skipif(not _kernels.available(), reason="numba is not installed")


@pytest.fixture
def fused(monkeypatch):
    monkeypatch.setattr(_kernels, "MIN_NUMEL", 1)
    monkeypatch.setattr(_kernels, "_CHUNK_ENTRIES", 64)  # several chunks even for small inputs


def torch_path(probs, labels, **kw):
    """prepare_from_probs with the kernels switched off (the reference path)."""
    old = _kernels.MIN_NUMEL
    _kernels.MIN_NUMEL = 1 << 62
    try:
        return prepare_from_probs(probs, labels, **kw)
    finally:
        _kernels.MIN_NUMEL = old


@pytest.mark.usefixtures("fused")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize(("n", "k"), [(1, 1), (1, 5), (7, 3), (500, 10), (300, 257)])
def test_row_stats_equal_torch(dtype, n, k):
    p, y, _ = make_probs(n, k, seed=n + k, scale=4.0, dtype=dtype)
    if dtype == torch.float16:
        p = p / p.float().sum(1, keepdim=True).half()
    a = prepare_from_probs(p, y)
    assert a.pred is None and a.correct_ is not None  # the kernel ran
    b = torch_path(p, y)
    assert a.conf.dtype == b.conf.dtype
    assert torch.equal(a.conf, b.conf)
    assert torch.equal(a.p_true, b.p_true)
    assert torch.equal(a.correct, b.correct)
    assert torch.equal(a.prediction, b.pred)


@pytest.mark.usefixtures("fused")
def test_ties_first_maximal_index():
    p = torch.tensor(
        [[0.25, 0.25, 0.25, 0.25]] * 4 + [[0.4, 0.2, 0.4, 0.0]] * 3 + [[0.0, 0.5, 0.5, 0.0]] * 2
    )
    y = torch.tensor([0, 1, 2, 3, 0, 2, 1, 1, 2])
    prep = prepare_from_probs(p, y)
    expected = [True, False, False, False, True, False, False, True, False]
    assert prep.correct.tolist() == expected
    assert torch.equal(prep.correct, torch_path(p, y).correct)


@pytest.mark.usefixtures("fused")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ece_on_edges_zero_and_one(dtype):
    n_bins = 5
    rng = np.random.default_rng(3)
    conf = np.concatenate([np.arange(6) / 5, [0.0, 1.0, 0.2, 0.6], rng.uniform(0.2, 1, 200)])
    conf = conf.astype(dtype)
    k = 3
    # rows whose max is conf (conf >= 1/3 by construction for the random part; small ones
    # become ties resolved by argmax below)
    rest = (1 - conf) / (k - 1)
    p = np.stack([conf, rest, rest], axis=1).astype(dtype)
    y = rng.integers(0, k, size=len(conf))
    c_ref, pred = top_label(torch.from_numpy(p))
    ref = naive_ece(np.asarray(c_ref, dtype=dtype), pred == y, n_bins)
    got = expected_calibration_error(p, y, n_bins, validate_args=False)
    assert got == pytest.approx(ref, abs=1e-12)


@pytest.mark.usefixtures("fused")
@pytest.mark.parametrize(("dtype", "edge_dtype"), [(torch.float32, None), (torch.float64, None),
                                                   (torch.float32, torch.float16)])  # fmt: skip
@pytest.mark.parametrize("n_bins", [1, 3, 10, 15, 20])
def test_bin_sums_equal_bucketize(dtype, edge_dtype, n_bins):
    g = torch.Generator().manual_seed(n_bins)
    edges = torch.arange(n_bins + 1, dtype=torch.float64) / n_bins
    conf = torch.cat([torch.rand(3000, generator=g, dtype=torch.float64), edges, edges])
    conf = conf.to(edge_dtype or dtype).to(dtype)
    conf = torch.cat([conf, torch.tensor([float("nan")], dtype=dtype)])
    correct = torch.rand(conf.shape[0], generator=g) < 0.7
    from gencal.metrics.binning import equal_width_bin_sums

    count, s_conf, s_acc = equal_width_bin_sums(conf, correct, n_bins, edge_dtype)
    b = bin_index(conf, n_bins, edge_dtype)
    ref_count = torch.bincount(b, minlength=n_bins).double()
    ref_acc = torch.bincount(b[correct], minlength=n_bins).double()
    ref_conf = torch.bincount(b, weights=conf.double(), minlength=n_bins)
    assert torch.equal(count, ref_count)
    assert torch.equal(s_acc, ref_acc)
    torch.testing.assert_close(s_conf, ref_conf, rtol=1e-12, atol=1e-12, equal_nan=True)


@pytest.mark.usefixtures("fused")
@pytest.mark.parametrize(
    ("probs", "labels", "match"),
    [
        ([[0.5, float("nan")]] * 3, [0] * 3, "non-finite"),
        ([[0.5, float("inf")]] * 3, [0] * 3, "non-finite"),
        ([[0.5, -float("nan")]] * 3, [0] * 3, "non-finite"),
        ([[0.5, 0.6]] * 3, [0] * 3, "sum to 1"),
        ([[1.2, -0.2]] * 3, [0] * 3, r"\[0, 1\]"),
        ([[1.2, 0.2]] * 3, [0] * 3, r"\[0, 1\].*max 1.2"),
        ([[0.5, 0.5]] * 3, [0, 2, 0], "label 2 is out of range"),
        ([[0.5, 0.5]] * 3, [0, -1, 0], "label -1 is out of range"),
    ],
)
def test_bad_input_messages(probs, labels, match):
    with pytest.raises(GencalInputError, match=match):
        expected_calibration_error(torch.tensor(probs), torch.tensor(labels))


@pytest.mark.usefixtures("fused")
def test_labels_checked_without_validation():
    p, y, _ = make_probs(50, 4)
    y[7] = 4
    with pytest.raises(GencalInputError, match="out of range"):
        expected_calibration_error(p, y, validate_args=False)


@pytest.mark.usefixtures("fused")
def test_negative_zero_and_unvalidated_logits_follow_torch():
    p = torch.tensor([[1.0, -0.0, 0.0], [0.0, -0.0, 1.0], [0.5, 0.5, -0.0]])
    y = torch.tensor([0, 2, 1])
    assert expected_calibration_error(p, y) == pytest.approx(
        expected_calibration_error(p.abs(), y), abs=0
    )
    _, y2, z = make_probs(200, 6, seed=5)  # logits: negative entries, rows do not sum to 1
    a = prepare_from_probs(z, y2, validate_args=False)
    b = torch_path(z, y2, validate_args=False)
    assert torch.equal(a.conf, b.conf) and torch.equal(a.correct, b.correct)


@pytest.mark.usefixtures("fused")
def test_threads_and_chunks_against_netcal():
    netcal = pytest.importorskip("netcal.metrics")
    p, y, _ = make_probs(3000, 12, seed=11)
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ours = expected_calibration_error(p, y, 15)
        rec = calibration_report(p, y, inputs="probs")
    finally:
        torch.set_num_threads(old)
    ref = netcal.ECE(bins=15).measure(p.numpy(), y.numpy())
    assert ours == pytest.approx(ref, abs=1e-9)
    assert rec["ece"] == pytest.approx(ref, abs=1e-9)
    assert rec["accuracy"] == pytest.approx(float((p.argmax(1) == y).double().mean()), abs=0)


def test_disabled_numba_falls_back(monkeypatch):
    monkeypatch.setenv("GENCAL_DISABLE_NUMBA", "1")
    monkeypatch.setattr(_kernels, "_STATE", {})
    monkeypatch.setattr(_kernels, "MIN_NUMEL", 1)
    assert not _kernels.available()
    p, y, _ = make_probs(100, 5, seed=2)
    prep = prepare_from_probs(p, y)
    assert prep.pred is not None  # torch path
    c, pred = top_label(p)
    assert expected_calibration_error(p, y) == pytest.approx(
        naive_ece(c.astype(np.float32), pred == y.numpy(), 15), abs=1e-9
    )


@pytest.mark.usefixtures("fused")
@pytest.mark.parametrize(("dtype", "edge_dtype"), [(torch.float32, None), (torch.float64, None),
                                                   (torch.float32, torch.float16)])  # fmt: skip
@pytest.mark.parametrize("n_bins", [1, 2, 15, 20])
def test_classwise_sums_equal_torch(dtype, edge_dtype, n_bins):
    from gencal.metrics.functional import classwise_bins

    p, y, _ = make_probs(700, 9, seed=n_bins, scale=2.5, dtype=torch.float64)
    edges = torch.arange(n_bins + 1, dtype=torch.float64) / n_bins
    p[:20, 0] = edges[torch.arange(20) % (n_bins + 1)]  # entries exactly on the edges, 0 and 1
    p = p.to(edge_dtype or dtype).to(dtype)
    p_true = p.gather(1, y[:, None]).squeeze(1)
    got = classwise_bins(p, y, p_true, n_bins, edge_dtype)
    typed = edges[1:-1].to(edge_dtype or dtype).to(dtype)
    assert (_kernels.classwise_sums(p, y, typed) is not None) == (n_bins > 1)  # the kernel ran
    old = _kernels.MIN_NUMEL
    _kernels.MIN_NUMEL = 1 << 62
    try:
        ref = classwise_bins(p, y, p_true, n_bins, edge_dtype)
    finally:
        _kernels.MIN_NUMEL = old
    assert torch.equal(got[0], ref[0])
    torch.testing.assert_close(got[1], ref[1], rtol=1e-9, atol=1e-9)
    assert torch.equal(got[2], ref[2])


@pytest.mark.usefixtures("fused")
def test_classwise_ece_against_netcal_style_loop():
    from gencal.metrics import classwise_calibration_error

    p, y, _ = make_probs(2000, 5, seed=4)
    n_bins = 10
    pn, yn = p.double().numpy(), y.numpy()
    total = 0.0
    for k in range(5):  # Kull et al. 2019, bins (lo, hi] with float32 edges
        b = np.array([naive_bin(v, n_bins, np.float32) for v in p[:, k].tolist()])
        for j in range(n_bins):
            m = b == j
            if m.any():
                total += abs((yn[m] == k).sum() - pn[m, k].sum()) / len(yn)
    assert classwise_calibration_error(p, y, n_bins) == pytest.approx(total / 5, abs=1e-9)
