import json

import numpy as np
import pytest
import torch

from gencal._checks import (
    GencalInputError,
    check_labels,
    check_logits,
    check_probs,
    check_same_length,
)
from gencal.io import atomic_save_npz, atomic_write_json


def test_check_logits_errors():
    check_logits(torch.zeros(3, 2))
    with pytest.raises(GencalInputError, match="NaN"):
        check_logits(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(GencalInputError, match="inf"):
        check_logits(torch.tensor([[0.0, float("inf")]]))
    with pytest.raises(GencalInputError, match=r"shape \[N, K\]"):
        check_logits(torch.zeros(3))
    with pytest.raises(GencalInputError, match="floating"):
        check_logits(torch.zeros(3, 2, dtype=torch.long))


def test_check_labels_errors():
    check_labels(torch.tensor([0, 1, 2]), 3, n=3)
    with pytest.raises(GencalInputError, match="label 3 is out of range for 3 classes"):
        check_labels(torch.tensor([0, 3]), 3)
    with pytest.raises(GencalInputError, match="label -1"):
        check_labels(torch.tensor([0, -1]), 3)
    check_labels(torch.tensor([0, -100]), 3, ignore_index=-100)
    with pytest.raises(GencalInputError, match="length 2 does not match the 3 rows"):
        check_labels(torch.tensor([0, 1]), 3, n=3)
    with pytest.raises(GencalInputError, match="integer class indices"):
        check_labels(torch.tensor([0.0, 1.0]), 3)


def test_check_probs_errors():
    check_probs(torch.full((2, 4), 0.25))
    with pytest.raises(GencalInputError, match="sum to 1"):
        check_probs(torch.full((2, 4), 0.3))
    with pytest.raises(GencalInputError, match=r"\[0, 1\]"):
        check_probs(torch.tensor([[1.5, -0.5]]))
    with pytest.raises(GencalInputError, match="length mismatch: a=2, b=3"):
        check_same_length(a=[1, 2], b=[1, 2, 3])


def test_atomic_writes_leave_no_temporaries(tmp_path):
    p = atomic_write_json(tmp_path / "sub" / "r.json", {"b": 1, "a": 2})
    assert json.loads(p.read_text()) == {"a": 2, "b": 1}
    q = atomic_save_npz(tmp_path / "x.npz", x=np.arange(5))
    assert np.array_equal(np.load(q)["x"], np.arange(5))
    assert sorted(f.name for f in tmp_path.rglob("*") if f.is_file()) == ["r.json", "x.npz"]


def test_atomic_write_uses_umask_permissions(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        p = atomic_write_json(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(old)
    assert (p.stat().st_mode & 0o777) == 0o644
