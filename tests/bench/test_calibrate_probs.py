"""`gencal calibrate --probs`: a probabilities file calibrates like the logits it came from."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from gencal import InputLooksLikeProbabilitiesWarning
from gencal.cli import main


def _data(n=400, k=4, seed=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    z = rng.normal(size=(n, k)) * 2.0
    z[np.arange(n), y] += 2.5
    return z, y


@pytest.mark.parametrize("method", ["ts", "ats"])
def test_probs_flag_matches_the_logits(tmp_path, method):
    z, y = _data()
    np.savez(tmp_path / "logits.npz", logits=z, labels=y)
    np.savez(tmp_path / "probs.npz", logits=softmax(z, axis=1), labels=y)
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["calibrate", str(tmp_path / "logits.npz"), "-m", method, "-o", str(a)]) == 0
    argv = ["calibrate", str(tmp_path / "probs.npz"), "-m", method, "-o", str(b), "--probs"]
    assert main(argv) == 0
    pa = np.load(f"{a}.npz")["probs"]
    pb = np.load(f"{b}.npz")["probs"]
    np.testing.assert_allclose(pb, pa, atol=1e-9)
    assert '"inputs": "probs"' in (tmp_path / "b.json").read_text()


def test_undeclared_probabilities_warn_in_the_command(tmp_path):
    z, y = _data()
    np.savez(tmp_path / "probs.npz", logits=softmax(z, axis=1), labels=y)
    with pytest.warns(InputLooksLikeProbabilitiesWarning, match="--probs"):
        assert main(["calibrate", str(tmp_path / "probs.npz"), "-m", "ts"]) == 0
