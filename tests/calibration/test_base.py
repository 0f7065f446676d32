"""Behaviour every registered calibrator must have (parametrised over the registry)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gencal import GencalInputError, NotFittedError
from gencal.calibration import (
    Calibrator,
    class_balanced_weights,
    get_calibrator,
    list_calibrators,
    load_calibrator,
)
from tests.calibration._ref import confidence_dependent_data, ref_softmax

ALL = list_calibrators()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(123)
    z, y = confidence_dependent_data(600, 5, rng)
    zt, _ = confidence_dependent_data(200, 5, rng)
    return z, y, zt


def test_registry_names():
    expected = {"none", "ts", "ts_grid", "ats", "vector", "dirichlet", "isotonic", "histogram"}
    assert expected <= set(ALL)
    with pytest.raises(GencalInputError, match="unknown calibrator"):
        get_calibrator("platt_typo")
    with pytest.raises(GencalInputError, match=r"no hyperparameter 'reg'.*reg_lambda"):
        get_calibrator("dirichlet", reg=1e-3)
    with pytest.raises(GencalInputError, match="objective"):
        get_calibrator("ats", objective="brier")


@pytest.mark.parametrize("name", ALL)
def test_not_fitted(name, data):
    cal = get_calibrator(name)
    with pytest.raises(NotFittedError, match="not fitted"):
        cal.transform(data[2])
    with pytest.raises(NotFittedError, match="not fitted"):
        cal.predict_proba(data[2])


@pytest.mark.parametrize("name", ALL)
def test_proba_and_transform_consistent(name, data):
    z, y, zt = data
    cal = get_calibrator(name).fit(z, y)
    p = cal.predict_proba(zt)
    assert isinstance(p, np.ndarray) and p.shape == zt.shape and p.dtype == np.float64
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    out = cal.transform(zt)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(ref_softmax(out), p, atol=1e-9)


@pytest.mark.parametrize("name", ALL)
def test_types_roundtrip(name, data):
    z, y, zt = data
    cal = get_calibrator(name).fit(torch.tensor(z, dtype=torch.float32), torch.tensor(y))
    out_t = cal.predict_proba(torch.tensor(zt, dtype=torch.float32))
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32
    out_n32 = cal.transform(zt.astype(np.float32))
    assert isinstance(out_n32, np.ndarray) and out_n32.dtype == np.float32
    out_n = cal.predict_proba(zt.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(out_t.numpy(), out_n, atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_json_roundtrip(name, data, tmp_path):
    z, y, zt = data
    cal = get_calibrator(name).fit(z, y)
    path = cal.save(tmp_path / f"{name}.json")
    text = path.read_text()
    assert json.loads(text)["name"] == name
    back = load_calibrator(path)
    assert type(back) is type(cal)
    np.testing.assert_array_equal(back.transform(zt), cal.transform(zt))
    np.testing.assert_array_equal(back.predict_proba(zt), cal.predict_proba(zt))
    back2 = Calibrator.from_json(json.loads(json.dumps(cal.to_json())))
    np.testing.assert_array_equal(back2.predict_proba(zt), cal.predict_proba(zt))
    # an unfitted calibrator round-trips too and stays unfitted
    fresh = load_calibrator(get_calibrator(name).to_json())
    with pytest.raises(NotFittedError):
        fresh.transform(zt)


# Dirichlet's and ATS's default cross-validation puts duplicates and weighted samples in different folds
# (la: a given prior, since its calibration-split prior counts labels unweighted)
NO_CV = {
    "dirichlet": {"cv_folds": 0},
    "ats": {"n_pieces": 6, "shrinkage": 30.0},
    "la": {"class_counts": [5, 4, 3, 2, 1]},
}


@pytest.mark.parametrize("name", ALL)
def test_weight_two_equals_duplication(name, data):
    z, y, zt = data
    rng = np.random.default_rng(7)
    w = rng.integers(1, 3, size=len(y)).astype(np.float64)
    rep = np.repeat(np.arange(len(y)), w.astype(int))
    hp = NO_CV.get(name, {})
    a = get_calibrator(name, **hp).fit(z, y, sample_weight=w).predict_proba(zt)
    b = get_calibrator(name, **hp).fit(z[rep], y[rep]).predict_proba(zt)
    np.testing.assert_allclose(a, b, atol=2e-5)


@pytest.mark.parametrize("name", [n for n in ALL if n != "none"])
def test_weights_change_fit(name, data):
    z, y, zt = data
    conf = ref_softmax(z).max(axis=1)
    w = np.where(conf > np.median(conf), 20.0, 1.0)  # the data's T* depends on confidence
    a = get_calibrator(name).fit(z, y, sample_weight=w).predict_proba(zt)
    b = get_calibrator(name).fit(z, y).predict_proba(zt)
    assert np.abs(a - b).max() > 1e-4


@pytest.mark.parametrize("name", ALL)
def test_bad_inputs(name, data):
    z, y, zt = data
    cal = get_calibrator(name)
    bad = z.copy()
    bad[3, 1] = np.nan
    with pytest.raises(GencalInputError, match="NaN"):
        cal.fit(bad, y)
    bad[3, 1] = np.inf
    with pytest.raises(GencalInputError, match="inf"):
        cal.fit(bad, y)
    with pytest.raises(GencalInputError, match="length"):
        cal.fit(z, y[:-1])
    with pytest.raises(GencalInputError, match="single class"):
        cal.fit(z, np.full(len(y), 2))
    with pytest.raises(GencalInputError, match="out of range"):
        cal.fit(z, np.where(y == 0, 5, y))
    with pytest.raises(GencalInputError, match="integer"):
        cal.fit(z, y.astype(np.float64))
    with pytest.raises(GencalInputError, match="sample_weight"):
        cal.fit(z, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(GencalInputError, match="length"):
        cal.fit(z, y, sample_weight=np.ones(len(y) + 1))
    cal.fit(z, y)
    with pytest.raises(GencalInputError, match="K=4"):
        cal.transform(zt[:, :4])
    bad_t = zt.copy()
    bad_t[0, 0] = np.nan
    with pytest.raises(GencalInputError, match="NaN"):
        cal.predict_proba(bad_t)


def test_class_balanced_weights():
    y = np.array([0, 0, 0, 1, 2, 2])
    w = class_balanced_weights(y)
    # reference: each class gets total weight N / C, weights average to 1
    for c in range(3):
        assert np.isclose(w[y == c].sum(), 6 / 3)
    assert np.isclose(w.mean(), 1.0)
    w_t = class_balanced_weights(torch.tensor(y), num_classes=4)
    np.testing.assert_allclose(w_t, w)


@pytest.mark.parametrize("name", ALL)
def test_half_precision_and_zero_weights(name, data):
    z, y, zt = data
    w = np.ones(len(y))
    w[::3] = 0.0  # zero weights are allowed and mean "leave the sample out"
    hp = NO_CV.get(name, {})
    if name == "ats":
        hp = {"min_piece_size": 0}
    a = get_calibrator(name, **hp).fit(z, y, sample_weight=w).predict_proba(zt)
    b = get_calibrator(name, **hp).fit(z[w > 0], y[w > 0]).predict_proba(zt)
    np.testing.assert_allclose(a, b, atol=2e-5)
    cal = get_calibrator(name).fit(torch.tensor(z, dtype=torch.float16), torch.tensor(y))
    out = cal.transform(torch.tensor(zt, dtype=torch.float16))
    assert out.dtype == torch.float16 and bool(torch.isfinite(out).all())
