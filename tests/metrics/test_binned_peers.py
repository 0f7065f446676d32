"""AdaECE, classwise ECE and ECE/MCE against netcal and naive loops."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from netcal.metrics import ECE as NetcalECE
from netcal.metrics import MCE as NetcalMCE

from gencal.metrics import (
    adaptive_calibration_error,
    classwise_calibration_error,
    expected_calibration_error,
    maximum_calibration_error,
)
from tests.metrics.conftest import make_probs, naive_bin, top_label


def naive_adaece(conf, correct, n_bins):
    """Equal-mass bins by loops: cut the sorted list at round(b N / n); tie groups stay together."""
    pairs = sorted(zip(conf.tolist(), correct.tolist()))
    n = len(pairs)
    his = [pairs[min(max(round(b * n / n_bins), 1), n) - 1][0] for b in range(1, n_bins)]
    bins = [[] for _ in range(n_bins)]
    for c, a in pairs:
        b = 0
        while b < n_bins - 1 and c > his[b]:
            b += 1
        bins[b].append((c, a))
    return sum(abs(sum(a for _, a in bb) - sum(c for c, _ in bb)) for bb in bins if bb) / n


def naive_classwise(probs, labels, n_bins, dtype=np.float64):
    n, k = probs.shape
    total = 0.0
    for j in range(k):
        sums = {}
        for i in range(n):
            b = naive_bin(float(probs[i, j]), n_bins, dtype)
            s = sums.setdefault(b, [0.0, 0.0])
            s[0] += float(probs[i, j])
            s[1] += 1.0 if labels[i] == j else 0.0
        total += sum(abs(sy - sp) for sp, sy in sums.values()) / n
    return total / k


@pytest.mark.parametrize("n_bins", [10, 15])
def test_ece_and_mce_match_netcal(n_bins):
    # netcal bins are [lo, hi) with 1.0 in the last bin; random confidences avoid the edges
    p, y, _ = make_probs(2000, 10, seed=21, dtype=torch.float64)
    ours = expected_calibration_error(p, y, n_bins)
    assert ours == pytest.approx(NetcalECE(bins=n_bins).measure(p.numpy(), y.numpy()), abs=1e-9)
    ref_mce = NetcalMCE(bins=n_bins).measure(p.numpy(), y.numpy())
    assert maximum_calibration_error(p, y, n_bins) == pytest.approx(ref_mce, abs=1e-9)


def test_adaece_matches_netcal_equal_mass():
    # N a multiple of n_bins and distinct confidences: netcal's np.quantile edges and our
    # cut-at-round(bN/n) edges put the same samples in each bin
    p, y, _ = make_probs(15 * 80, 8, seed=22, dtype=torch.float64)
    ref = NetcalECE(bins=15, equal_intervals=False).measure(p.numpy(), y.numpy())
    assert adaptive_calibration_error(p, y, 15) == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("n", [1, 7, 100, 333])
def test_adaece_matches_naive_loop(n):
    p, y, _ = make_probs(n, 4, seed=n)
    conf, pred = top_label(p)
    ref = naive_adaece(conf, pred == y.numpy(), 15)
    assert adaptive_calibration_error(p, y, 15) == pytest.approx(ref, abs=1e-6)


def test_adaece_ties_do_not_depend_on_order():
    # many tied confidences straddling the cuts, correctness mixed inside tie groups
    conf = np.repeat([0.55, 0.7, 0.9], [40, 35, 25])
    p = torch.tensor(np.stack([conf, 1 - conf], 1))
    rng = np.random.default_rng(0)
    y = torch.tensor((rng.random(100) < 0.3).astype(np.int64))
    ref = naive_adaece(conf, (y.numpy() == 0), 10)
    for _ in range(3):
        perm = torch.from_numpy(rng.permutation(100))
        assert adaptive_calibration_error(p[perm], y[perm], 10) == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("n_bins", [5, 15])
def test_classwise_matches_naive_loop(n_bins):
    p, y, _ = make_probs(150, 5, seed=23)
    y = y.clone()
    y[y == 4] = 0  # class 4 absent from the labels: still averaged over all 5 columns
    ref = naive_classwise(p.numpy(), y.numpy(), n_bins, np.float32)
    assert classwise_calibration_error(p, y, n_bins) == pytest.approx(ref, abs=1e-6)


def test_classwise_with_exact_edges_zero_and_one():
    p = torch.tensor(
        [[1.0, 0.0, 0.0], [0.2, 0.4, 0.4], [0.0, 0.2, 0.8], [1 / 3, 1 / 3, 1 / 3], [0.6, 0.4, 0.0]],
        dtype=torch.float64,
    )
    y = torch.tensor([0, 1, 2, 2, 1])
    for nb in (1, 2, 5, 15):
        ref = naive_classwise(p.numpy(), y.numpy(), nb)
        assert classwise_calibration_error(p, y, nb) == pytest.approx(ref, abs=1e-12)


def test_classwise_two_classes_all_entries_are_candidates():
    p, y, _ = make_probs(300, 2, seed=24, scale=0.5)
    ref = naive_classwise(p.numpy(), y.numpy(), 15, np.float32)
    assert classwise_calibration_error(p, y) == pytest.approx(ref, abs=1e-6)


def test_classwise_norms_against_loop():
    p, y, _ = make_probs(120, 3, seed=25, dtype=torch.float64)
    pn, yn = p.numpy(), y.numpy()
    for norm in ("l2", "max"):
        per_class = []
        for j in range(3):
            groups = {}
            for i in range(120):
                groups.setdefault(naive_bin(pn[i, j], 15), []).append((pn[i, j], yn[i] == j))
            gaps = [
                (len(v), abs(np.mean([a for _, a in v]) - np.mean([c for c, _ in v])))
                for v in groups.values()
            ]
            if norm == "l2":
                per_class.append(np.sqrt(sum(m / 120 * g * g for m, g in gaps)))
            else:
                per_class.append(max(g for _, g in gaps))
        ref = float(np.mean(per_class))
        assert classwise_calibration_error(p, y, 15, norm) == pytest.approx(ref, abs=1e-12)


def test_all_binned_metrics_on_a_single_sample():
    p = torch.tensor([[0.1, 0.9]])
    for y, gap in ((1, 0.1), (0, 0.9)):
        lab = torch.tensor([y])
        assert expected_calibration_error(p, lab) == pytest.approx(gap, abs=1e-6)
        assert adaptive_calibration_error(p, lab) == pytest.approx(gap, abs=1e-6)
        assert maximum_calibration_error(p, lab) == pytest.approx(gap, abs=1e-6)
        ref = naive_classwise(p.numpy(), lab.numpy(), 15, np.float32)
        assert classwise_calibration_error(p, lab) == pytest.approx(ref, abs=1e-6)


def test_float16_classwise_and_adaece():
    p, y, _ = make_probs(200, 4, seed=26)
    p16 = p.half()
    pf = p16.float().numpy()
    ref = naive_classwise(pf, y.numpy(), 15, np.float16)
    assert classwise_calibration_error(p16, y) == pytest.approx(ref, abs=1e-5)
    conf, pred = pf.max(1), pf.argmax(1)
    assert adaptive_calibration_error(p16, y) == pytest.approx(
        naive_adaece(conf, pred == y.numpy(), 15), abs=1e-5
    )


def test_classwise_exhaustive_edge_pairs():
    vals = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    for a, b in itertools.combinations(vals, 2):
        p = torch.tensor([[a, 1 - a], [b, 1 - b]], dtype=torch.float64)
        y = torch.tensor([0, 1])
        ref = naive_classwise(p.numpy(), y.numpy(), 5)
        assert classwise_calibration_error(p, y, 5) == pytest.approx(ref, abs=1e-12)


def test_column_sums64_block_path():
    from gencal.metrics.functional import column_sums64

    x = torch.rand(1000 * 7 + 13, 5)
    ref = x.double().sum(0)
    got = column_sums64(x, block=64, exact_below=0)
    assert torch.allclose(got, ref, rtol=1e-7, atol=0)
    assert torch.equal(column_sums64(x), ref)
