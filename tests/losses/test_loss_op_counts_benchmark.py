"""The op-count benchmark runs, and GCE's paths dispatch what they are meant to (no masking op
when no row is ignored, no host read-back and no scalar tensor on the device-like path)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "loss_op_counts.py"


def _module():
    spec = importlib.util.spec_from_file_location("loss_op_counts", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_main_reports_every_variant(capsys):
    totals = _module().main(["--n", "16", "--k", "4"])
    assert set(totals) == {"ce", "focal", "gce", "gce/shifted", "gce/shifted,count-on-device"}
    assert all(c > 0 for per in totals.values() for c in per.values())
    assert "gce/shifted" in capsys.readouterr().out


def test_gce_paths_dispatch_no_masking_and_no_readback_where_expected():
    mod = _module()
    # no ignored row (known from the validation sync): not a single where / scalar tensor
    for shifted in (False, True):
        ops = mod.count_ops("gce", shifted, True, True, 32, 5)
        assert ops["aten::where"] == 0 and ops["aten::scalar_tensor"] == 0, ops
        assert (ops["aten::amax"] > 0) == shifted  # the shifted path really ran
    # as on a device with validate_args=False: masked by arithmetic, nothing read back
    ops = mod.count_ops("gce", True, False, False, 32, 5)
    assert ops["aten::_local_scalar_dense"] == 0 and ops["aten::item"] == 0, ops
    assert ops["aten::scalar_tensor"] == 0 and ops["aten::where"] == 0, ops
