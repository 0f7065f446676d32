"""AURC and OOD metrics against naive loops and scikit-learn."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score, roc_curve

from gencal import GencalInputError
from gencal.metrics import aurc, calibration_report, fpr_at_95_tpr, ood_auroc
from tests.metrics.conftest import make_probs


def naive_aurc(conf, err):
    order = sorted(range(len(conf)), key=lambda i: -conf[i])
    risks, errs = [], 0
    for i, j in enumerate(order, 1):
        errs += err[j]
        risks.append(errs / i)
    return sum(risks) / len(risks)


def test_aurc_matches_naive_loop_without_ties():
    p, y, _ = make_probs(300, 5, seed=31, dtype=torch.float64)
    conf = p.max(1).values.tolist()
    err = (p.argmax(1) != y).tolist()
    assert aurc(p, y) == pytest.approx(naive_aurc(conf, err), abs=1e-12)


def test_aurc_ties_equal_mean_over_all_orders():
    # a tie group of 4 (2 errors) between distinct confidences: the expected AURC over all 24
    # orders of the group is what aurc reports, whatever the input order
    conf = [0.9, 0.7, 0.7, 0.7, 0.7, 0.5]
    err = [0, 1, 0, 1, 0, 1]
    refs = []
    for perm in itertools.permutations(range(1, 5)):
        idx = [0, *perm, 5]
        c = [conf[i] - 1e-9 * k for k, i in enumerate(idx)]  # strict order = this permutation
        refs.append(naive_aurc(c, [err[i] for i in idx]))
    p = torch.tensor([[c, 1 - c] for c in conf], dtype=torch.float64)
    y = torch.tensor([e for e in err])  # label 1 is wrong since argmax is class 0
    assert aurc(p, y) == pytest.approx(float(np.mean(refs)), abs=1e-12)
    assert aurc(p.flip(0), y.flip(0)) == pytest.approx(float(np.mean(refs)), abs=1e-12)


def test_ood_auroc_matches_sklearn_with_ties():
    p_in, _, _ = make_probs(400, 10, seed=32, scale=4.0)
    p_out, _, _ = make_probs(300, 10, seed=33, scale=1.5)
    p_in = (p_in * 8).round() / 8  # coarse values: many ties across the two sets
    p_in = p_in / p_in.sum(1, keepdim=True)
    p_out = (p_out * 8).round() / 8
    p_out = p_out / p_out.sum(1, keepdim=True)
    s_in, s_out = p_in.max(1).values.numpy(), p_out.max(1).values.numpy()
    y = np.r_[np.ones(400), np.zeros(300)]
    ref = roc_auc_score(y, np.r_[s_in, s_out])
    assert ood_auroc(p_in, p_out) == pytest.approx(ref, abs=1e-12)


def test_fpr95_matches_sklearn_roc_curve():
    for seed in range(5):
        p_in, _, _ = make_probs(200 + seed, 6, seed=40 + seed, scale=3.0)
        p_out, _, _ = make_probs(150, 6, seed=50 + seed, scale=1.0)
        s_in, s_out = p_in.max(1).values.numpy(), p_out.max(1).values.numpy()
        fpr, tpr, _ = roc_curve(np.r_[np.ones(len(s_in)), np.zeros(150)], np.r_[s_in, s_out])
        ref = fpr[np.searchsorted(tpr, 0.95, side="left")]
        assert fpr_at_95_tpr(p_in, p_out) == pytest.approx(ref, abs=1e-12)


def test_report_ood_entries():
    p_in, y, z_in = make_probs(300, 5, seed=60)
    _, _, z_out = make_probs(200, 5, seed=61, scale=1.0)
    rec = calibration_report(z_in, y, ood_scores=z_out)
    p_out = torch.softmax(z_out, 1)
    assert rec["ood_auroc"] == pytest.approx(ood_auroc(torch.softmax(z_in, 1), p_out), abs=1e-7)
    assert rec["fpr_at_95_tpr"] == pytest.approx(fpr_at_95_tpr(p_in, p_out), abs=1e-7)
    with pytest.raises(GencalInputError, match="classes"):
        calibration_report(z_in, y, ood_scores=z_out[:, :3])


def test_ood_bad_input():
    p, _, _ = make_probs(10, 3)
    with pytest.raises(GencalInputError, match="ood_probs"):
        ood_auroc(p, p * 2)
    with pytest.raises(GencalInputError, match="tpr"):
        fpr_at_95_tpr(p, p, tpr=1.5)
