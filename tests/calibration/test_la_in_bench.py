"""The benchmark passes a run's training class counts to calibrators that take them (la)."""

from __future__ import annotations

import json

import numpy as np

from gencal.bench.evaluate import evaluate_runs, parse_calibrators
from gencal.bench.records import record_path
from gencal.io import atomic_save_npz
from tests.bench.test_evaluate import make_run


def test_bench_gives_la_the_train_class_counts(tmp_path):
    rd = make_run(tmp_path / "lt", "ce", 0)
    with np.load(rd / "logits.npz") as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays.pop("meta")))
    meta["train_class_counts"] = [500, 200, 50, 10]
    atomic_save_npz(rd / "logits.npz", **arrays, meta=np.array(json.dumps(meta)))
    specs = ["ts", {"la+ts": {"name": "la", "then": "ts"}}]
    evaluate_runs([rd], parse_calibrators(specs), progress=False)
    state = json.loads(record_path(rd, "la+ts").read_text())["calibrator_state"]
    assert state["params"]["class_counts"] == [500, 200, 50, 10]
    assert state["state"]["prior_source"] == "class_counts"
    np.testing.assert_allclose(
        np.exp(state["state"]["log_prior"]), np.array([500, 200, 50, 10]) / 760
    )
    assert state["state"]["then"]["name"] == "ts"
    ts_state = json.loads(record_path(rd, "ts").read_text())["calibrator_state"]
    assert "class_counts" not in ts_state["params"]
