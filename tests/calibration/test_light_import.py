"""``import gencal.calibration`` stays light: no training, config, plotting or JIT stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("lightning", "pytorch_lightning", "hydra", "omegaconf", "numba", "matplotlib")


def test_import_pulls_in_no_heavy_dependency():
    code = (
        "import json, sys; import gencal.calibration; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
