"""The core imports light: gencal, gencal.losses and gencal.metrics pull in no training,
configuration, compilation or plotting stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("lightning", "pytorch_lightning", "hydra", "omegaconf", "numba", "matplotlib")
SRC = Path(__file__).resolve().parents[2] / "src"


def test_core_imports_pull_in_no_heavy_module():
    code = (
        "import sys, gencal, gencal.losses, gencal.metrics\n"
        f"heavy = {HEAVY!r}\n"
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "", f"imported: {out.stdout.strip()}"
