"""calibration_report: one record equal to the individual metrics computed independently."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss

from gencal import GencalInputError
from gencal.metrics import calibration_report
from tests.metrics.conftest import make_probs, naive_ece, top_label


def test_report_from_logits_matches_references():
    p, y, z = make_probs(800, 6, seed=11, dtype=torch.float64)
    rec = calibration_report(z.float(), y, extra_ece_bins=(20,))
    conf, pred = top_label(torch.softmax(z, 1))
    correct = pred == y.numpy()
    assert rec["n_samples"] == 800.0
    assert rec["accuracy"] == pytest.approx(correct.mean())
    assert rec["error"] == pytest.approx(1 - correct.mean())
    assert rec["ece"] == pytest.approx(naive_ece(conf, correct, 15), abs=1e-6)
    assert rec["ece_20b"] == pytest.approx(naive_ece(conf, correct, 20), abs=1e-6)
    assert rec["mce"] == pytest.approx(naive_ece(conf, correct, 15, "max"), abs=1e-5)
    assert rec["nll"] == pytest.approx(
        log_loss(y.numpy(), p.numpy(), labels=list(range(6))), rel=1e-6
    )
    onehot = np.eye(6)[y.numpy()]
    assert rec["brier"] == pytest.approx(((p.numpy() - onehot) ** 2).sum(1).mean(), abs=1e-6)
    assert all(isinstance(v, float) for v in rec.values())


def test_report_probs_equals_logits():
    _, y, z = make_probs(500, 4, seed=12)
    a = calibration_report(z, y)
    b = calibration_report(torch.softmax(z, 1), y, inputs="probs")
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=1e-5), k


def test_report_exact_nll_from_extreme_logits():
    z = torch.tensor([[0.0, 200.0], [0.0, 0.0]])
    y = torch.tensor([0, 1])
    rec = calibration_report(z, y)
    assert rec["nll"] == pytest.approx((200.0 + np.log(2)) / 2, rel=1e-6)


def test_report_inputs_argument_is_explicit_and_checked():
    _, y, z = make_probs(10, 3)
    with pytest.raises(TypeError):
        calibration_report(z)  # labels are required
    with pytest.raises(GencalInputError, match="inputs: expected 'logits' or 'probs'"):
        calibration_report(z, y, inputs="logit")
    with pytest.raises(GencalInputError, match="inputs='logits'"):
        calibration_report(z, y, inputs="probs")  # logits passed as probabilities
    with pytest.raises(GencalInputError, match="integer class indices"):
        calibration_report(y, z)  # labels first (the old order) is an error


def test_report_groups():
    p, y, _ = make_probs(600, 6, seed=13)
    groups = {0: "many", 1: "many", "2": "medium", 3: "few", 4: "few", 5: "few"}
    rec = calibration_report(p, y, inputs="probs", groups=groups)
    conf, pred = top_label(p)
    for name, classes in {"many": [0, 1], "medium": [2], "few": [3, 4, 5]}.items():
        m = np.isin(y.numpy(), classes)
        correct = pred[m] == y.numpy()[m]
        assert rec[f"n_samples@{name}"] == m.sum()
        assert rec[f"accuracy@{name}"] == pytest.approx(correct.mean())
        assert rec[f"ece@{name}"] == pytest.approx(
            naive_ece(conf[m].astype(np.float32), correct, 15), abs=1e-9
        )
        recalls = [np.mean(pred[y.numpy() == c] == c) for c in classes if (y.numpy() == c).any()]
        assert rec[f"balanced_accuracy@{name}"] == pytest.approx(np.mean(recalls))


def test_report_group_without_samples_is_nan():
    p = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]])
    y = torch.tensor([0, 1])
    rec = calibration_report(p, y, inputs="probs", groups=["many", "many", "few"])
    assert rec["n_samples@few"] == 0.0
    assert np.isnan(rec["ece@few"])


def test_report_bad_groups():
    p, y, _ = make_probs(10, 3)
    with pytest.raises(GencalInputError, match="out of range"):
        calibration_report(p, y, inputs="probs", groups={7: "few"})
    with pytest.raises(GencalInputError, match="one group per class"):
        calibration_report(p, y, inputs="probs", groups=["many"])


def test_report_smooth_ece_aurc_adaece_classwise_match_functional_references():
    from gencal.metrics import (
        adaptive_calibration_error,
        aurc,
        classwise_calibration_error,
        smooth_ece,
    )

    p, y, _ = make_probs(700, 5, seed=14)
    rec = calibration_report(p, y, inputs="probs")
    # the functional forms are each tested against naive loops / peers elsewhere
    assert rec["smooth_ece"] == pytest.approx(smooth_ece(p, y), abs=1e-12)
    assert rec["aurc"] == pytest.approx(aurc(p, y), abs=1e-12)
    assert rec["adaece"] == pytest.approx(adaptive_calibration_error(p, y), abs=1e-12)
    assert rec["classwise_ece"] == pytest.approx(classwise_calibration_error(p, y), abs=1e-12)
