"""`gencal` command line: calibrate (bad input writes nothing; good input matches Python), help."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

from gencal.calibration import get_calibrator, load_calibrator
from gencal.cli import main


def _data(n=300, k=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    z = rng.normal(size=(n, k)) * 2.0
    z[np.arange(n), y] += 2.5  # informative, over-confident logits
    return z.astype(np.float32), y.astype(np.int64)


def _listing(d):
    return sorted(p.name for p in d.iterdir())


def _run(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


BAD_CASES = {
    "nan": lambda z, y: (
        {"logits": np.where(np.arange(z.size).reshape(z.shape) == 7, np.nan, z), "labels": y},
        "non-finite",
    ),
    "inf": lambda z, y: (
        {"logits": np.where(np.arange(z.size).reshape(z.shape) == 3, np.inf, z), "labels": y},
        "non-finite",
    ),
    "logits_1d": lambda z, y: ({"logits": z[:, 0], "labels": y}, "shape [N, K]"),
    "logits_3d": lambda z, y: ({"logits": z[:, :, None], "labels": y}, "shape [N, K]"),
    "length": lambda z, y: ({"logits": z, "labels": y[:-3]}, "does not match"),
    "label_range": lambda z, y: (
        {"logits": z, "labels": np.where(np.arange(y.size) == 5, 5, y)},
        "out of range",
    ),
    "negative_label": lambda z, y: (
        {"logits": z, "labels": np.where(np.arange(y.size) == 5, -1, y)},
        "out of range",
    ),
    "float_labels": lambda z, y: ({"logits": z, "labels": y + 0.5}, "integer class indices"),
    "onehot_labels": lambda z, y: (
        {"logits": z, "labels": np.eye(5, dtype=np.int64)[y]},
        "shape [N]",
    ),
    "int_logits": lambda z, y: ({"logits": z.astype(np.int64), "labels": y}, "floating-point"),
    "missing_labels": lambda z, y: ({"logits": z}, "missing array(s) labels"),
    "wrong_keys": lambda z, y: ({"scores": z, "targets": y}, "missing array(s) logits, labels"),
    "test_k_mismatch": lambda z, y: (
        {"cal_logits": z, "cal_labels": y, "test_logits": z[:, :4]},
        "classes",
    ),
    "test_nan": lambda z, y: (
        {"cal_logits": z, "cal_labels": y, "test_logits": np.full_like(z, np.nan)},
        "test_logits",
    ),
    "one_class": lambda z, y: (
        {"logits": z[:, :1], "labels": np.zeros_like(y)},
        "at least 2 classes",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_calibrate_bad_contents_fail_and_write_nothing(tmp_path, capsys, case):
    z, y = _data()
    arrays, why = BAD_CASES[case](z, y)
    f = tmp_path / "in.npz"
    np.savez(f, **arrays)
    before = _listing(tmp_path)
    rc, _, err = _run(["calibrate", str(f), "--method", "ts"], capsys)
    assert rc == 2
    assert why in err, err
    assert str(f) in err  # names the file
    assert "Traceback" not in err
    assert _listing(tmp_path) == before


@pytest.mark.parametrize(
    ("content", "why"),
    [(b"this is not a zip file", "cannot read"), (None, "does not exist")],
)
def test_calibrate_unreadable_file(tmp_path, capsys, content, why):
    f = tmp_path / "in.npz"
    if content is not None:
        f.write_bytes(content)
    before = _listing(tmp_path)
    rc, _, err = _run(["calibrate", str(f)], capsys)
    assert rc == 2 and why in err and "Traceback" not in err
    assert _listing(tmp_path) == before


def test_calibrate_unknown_method_and_existing_output(tmp_path, capsys):
    z, y = _data()
    f = tmp_path / "in.npz"
    np.savez(f, logits=z, labels=y)
    rc, _, err = _run(["calibrate", str(f), "--method", "nope"], capsys)
    assert rc == 2 and "unknown calibrator 'nope'" in err and "ts" in err
    assert _listing(tmp_path) == ["in.npz"]
    assert _run(["calibrate", str(f), "-m", "ts"], capsys)[0] == 0
    stamp = (tmp_path / "in.ts.npz").stat().st_mtime_ns
    rc, _, err = _run(["calibrate", str(f), "-m", "ts"], capsys)
    assert rc == 2 and "--force" in err
    assert (tmp_path / "in.ts.npz").stat().st_mtime_ns == stamp


def test_calibrate_ts_matches_python_and_nll_optimum(tmp_path, capsys):
    z, y = _data(seed=1)
    f = tmp_path / "val.npz"
    np.savez(f, logits=z, labels=y)
    rc, out, _ = _run(
        ["calibrate", str(f), "--method", "ts", "--out", str(tmp_path / "res")], capsys
    )
    assert rc == 0 and "res.npz" in out
    with np.load(tmp_path / "res.npz") as res:
        probs, labels = res["probs"], res["labels"]
    state = json.loads((tmp_path / "res.json").read_text())
    # same as fitting in Python
    ref = get_calibrator("ts").fit(z.astype(np.float64), y).predict_proba(z.astype(np.float64))
    np.testing.assert_allclose(probs, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(labels, y)
    # and independently: softmax(z / T) with T minimising the NLL (scipy, written here)
    zz = z.astype(np.float64)

    def nll(t):
        return -log_softmax(zz / t, axis=1)[np.arange(len(y)), y].mean()

    t_ref = minimize_scalar(nll, bounds=(0.05, 20), method="bounded", options={"xatol": 1e-8}).x
    np.testing.assert_allclose(probs, softmax(zz / t_ref, axis=1), atol=1e-5)
    # the JSON state loads back to the same calibrator
    again = load_calibrator(state).predict_proba(zz)
    np.testing.assert_allclose(again, probs, rtol=1e-12)


def test_calibrate_cal_test_form_and_npy_pair(tmp_path, capsys):
    z, y = _data(seed=2)
    zt, yt = _data(n=120, seed=3)
    f = tmp_path / "logits.npz"
    np.savez(f, cal_logits=z, cal_labels=y, test_logits=zt, test_labels=yt)
    assert _run(["calibrate", str(f), "-m", "ts"], capsys)[0] == 0
    cal = get_calibrator("ts").fit(z.astype(np.float64), y)
    with np.load(tmp_path / "logits.ts.npz") as res:
        assert res["probs"].shape == (120, 5)
        np.testing.assert_allclose(
            res["probs"], cal.predict_proba(zt.astype(np.float64)), rtol=1e-10
        )
        np.testing.assert_allclose(
            res["cal_probs"], cal.predict_proba(z.astype(np.float64)), rtol=1e-10
        )
        np.testing.assert_array_equal(res["labels"], yt)

    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    rc, _, _ = _run(
        ["calibrate", str(tmp_path / "z.npy"), "--labels", str(tmp_path / "y.npy"), "-m", "none"],
        capsys,
    )
    assert rc == 0
    with np.load(tmp_path / "z.none.npz") as res:
        np.testing.assert_allclose(res["probs"], softmax(z.astype(np.float64), axis=1), rtol=1e-6)
    rc, _, err = _run(["calibrate", str(tmp_path / "z.npy"), "-m", "ts"], capsys)
    assert rc == 2 and "--labels" in err


def test_calibrate_pt_file(tmp_path, capsys):
    z, y = _data(seed=4)
    f = tmp_path / "val.pt"
    torch.save({"logits": torch.from_numpy(z), "labels": torch.from_numpy(y)}, f)
    assert _run(["calibrate", str(f), "-m", "ts"], capsys)[0] == 0
    with np.load(tmp_path / "val.ts.npz") as res:
        ref = get_calibrator("ts").fit(z.astype(np.float64), y).predict_proba(z.astype(np.float64))
        np.testing.assert_allclose(res["probs"], ref, rtol=1e-10)


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["calibrate", "--help"])
    assert ei.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "gencal calibrate" in out
    assert main([]) == 0
    assert "gencal demo" in capsys.readouterr().out


def test_report_on_missing_dir_is_a_clear_error(tmp_path, capsys):
    rc, _, err = _run(["report", str(tmp_path / "nope")], capsys)
    assert rc == 2 and "does not exist" in err


def test_bench_bad_override_is_a_clear_error(tmp_path, capsys):
    rc, _, err = _run(
        ["bench", "experiment=no_such_preset", "--output-root", str(tmp_path)], capsys
    )
    assert rc == 2 and "no_such_preset" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_report_command_on_records(tmp_path, capsys):
    from tests.bench.conftest import make_records, write_experiment

    exp = write_experiment(tmp_path, make_records(3))
    rc, out, _ = _run(["report", str(exp), "--no-figures", "--summary"], capsys)
    assert rc == 0 and "index.html" in out and "ECE-15 % after calibrator" in out
    assert (exp / "report" / "index.html").is_file()
    (exp / "digits__mlp__ce__s0" / "eval" / "ts.json").write_text("{oops")
    rc, _, err = _run(["report", str(exp), "--no-figures"], capsys)
    assert rc == 2 and "digits__mlp__ce__s0/eval/ts.json" in err and "invalid JSON" in err


def test_calibrate_refuses_pickled_objects_in_pt(tmp_path, capsys):
    import pickle

    f = tmp_path / "evil.pt"
    f.write_bytes(pickle.dumps({"logits": object}))
    rc, _, err = _run(["calibrate", str(f)], capsys)
    assert rc == 2 and "weights_only" in err
    assert _listing(tmp_path) == ["evil.pt"]
