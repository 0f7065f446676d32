"""Synthetic records for the bench tests (no training needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gencal.bench.records import RECORD_SCHEMA, record_path, write_record

LOSSES = ("ce", "gce", "focal")
CALS = ("none", "ts", "ats")


def make_records(n_seeds: int = 6, seed: int = 0, groups: bool = False) -> list[dict]:
    rng = np.random.default_rng(seed)
    recs = []
    for li, loss in enumerate(LOSSES):
        for s in range(n_seeds):
            for ci, cal in enumerate(CALS):
                m = {
                    "accuracy": float(0.9 + 0.01 * li + 0.005 * rng.standard_normal()),
                    "ece": float(0.05 / (1 + ci) + 0.01 * li + 0.004 * rng.standard_normal()),
                    "adaece": float(0.04 + 0.01 * rng.random()),
                    "classwise_ece": float(0.01 + 0.002 * rng.random()),
                    "nll": float(0.3 + 0.05 * rng.random()),
                    "brier": float(0.15 + 0.02 * rng.random()),
                    "ece_20": float(0.05 + 0.01 * rng.random()),
                }
                if groups:
                    for g in ("many", "medium", "few"):
                        m[f"accuracy@{g}"] = float(rng.random())
                        m[f"ece@{g}"] = float(0.1 * rng.random())
                recs.append(
                    {
                        "schema": RECORD_SCHEMA,
                        "experiment": "synth",
                        "data": "digits",
                        "model": "mlp",
                        "loss": loss,
                        "seed": s,
                        "calibrator": cal,
                        "run": f"digits__mlp__{loss}__s{s}",
                        "calibrator_state": {"name": cal},
                        "fit_time_s": 0.01,
                        "n_cal": 100,
                        "n_test": 200,
                        "num_classes": 10,
                        "code_version": "test",
                        "metrics": m,
                    }
                )
    return recs


def write_experiment(root: Path, recs: list[dict]) -> Path:
    exp = root / "synth"
    for r in recs:
        write_record(record_path(exp / r["run"], r["calibrator"]), r)
    return exp


@pytest.fixture
def synth_records() -> list[dict]:
    return make_records()
