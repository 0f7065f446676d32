"""`gencal` command line: calibrate (bad input writes nothing; good input matches Python), help."""

from __future__ import annotations

import json
from pathlib import Path

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


# --------------------------------------------------------------------------- one-line errors

SRC = Path(__file__).resolve().parents[1] / "src"


def _corrupt_npz(tmp_path):
    f = tmp_path / "corrupt.npz"
    f.write_bytes(b"PK\x03\x04 truncated")
    return str(f)


# argv (with {tmp} for a scratch folder), words the message must contain
BAD_INPUT = {
    "train_unknown_group_option": (["train", "loss=nope"], ["loss/nope", "gce"]),
    "train_unknown_key": (["train", "trainer.nope=1"], ["trainer.nope"]),
    "train_bad_syntax": (["train", "trainer.epochs=[1"], ["trainer.epochs=[1"]),
    "train_bad_value": (
        ["train", "trainer.epochs=abc", "output_root={tmp}/runs", "trainer.threads=1"],
        ["abc"],
    ),
    "train_not_an_override": (["train", "loss"], ["'loss'", "KEY=VALUE"]),
    "train_unknown_flag": (["train", "--nope", "loss=gce"], ["--nope", "--help"]),
    "train_unknown_experiment": (["train", "+experiment=nope"], ["experiment/nope", "demo"]),
    "train_multirun_unknown_option": (["train", "-m", "loss=nope"], ["loss/nope"]),
    "train_missing_data": (
        ["train", "data=cifar10", "data.root={tmp}/no_data", "output_root={tmp}/runs"],
        ["not found", "data.kwargs.download=true"],
    ),
    "bench_unknown_experiment": (["bench", "experiment=nope"], ["experiment/nope"]),
    "bench_unknown_key": (["bench", "experiment=demo", "trainer.nope=1"], ["trainer.nope"]),
    "bench_bad_workers": (["bench", "--workers", "0"], ["--workers"]),
    "bench_unknown_flag": (["bench", "--nope"], ["--nope"]),
    "bench_missing_data": (
        [
            "bench",
            "experiment=demo",
            "data=cifar10",
            "model=cnn32",
            "data.root={tmp}/no_data",
            "grid.loss=[ce]",
            "grid.seed=[0]",
            "--output-root",
            "{tmp}/runs",
            "--workers",
            "1",
            "-q",
        ],
        ["1 run(s) failed", "data.kwargs.download=true", "rerun the same command"],
    ),
    "demo_unknown_key": (["demo", "trainer.nope=1", "--output-root", "{tmp}/runs"], ["nope"]),
    "demo_bad_data": (["demo", "--data", "nope"], ["--data", "nope"]),
    "report_missing_dir": (["report", "{tmp}/nope"], ["does not exist"]),
    "report_missing_arg": (["report"], ["EXPERIMENT_DIR"]),
    "calibrate_missing_file": (["calibrate", "{tmp}/nope.npz"], ["does not exist"]),
    "calibrate_corrupt_file": (["calibrate", "{corrupt}"], ["corrupt.npz", "cannot read"]),
    "calibrate_bad_param": (["calibrate", "{corrupt}", "--param", "n_bins"], ["KEY=VALUE"]),
    "unknown_command": (["nope"], ["nope"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_every_subcommand_reports_bad_input_in_one_line(tmp_path, capsys, case):
    argv, words = BAD_INPUT[case]
    fill = {"tmp": str(tmp_path), "corrupt": _corrupt_npz(tmp_path)}
    argv = [a.format(**fill) for a in argv]
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse usage errors exit by themselves
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gencal: error: "), err
    for w in words:
        assert w in lines[0], (w, err)


def test_cli_error_in_a_subprocess_is_one_line_and_debug_shows_the_traceback(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(SRC))
    env.pop("GENCAL_DEBUG", None)
    cmd = [sys.executable, "-m", "gencal", "train", "loss=nope"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.strip()], proc.stderr
    assert proc.stderr.startswith("gencal: error: ") and "Traceback" not in proc.stderr
    assert proc.stdout == ""

    for extra_env, flag in (({}, ["--debug"]), ({"GENCAL_DEBUG": "1"}, [])):
        proc = subprocess.run(
            [*cmd, *flag], env={**env, **extra_env}, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode != 0
        assert "Traceback" in proc.stderr and "loss/nope" in proc.stderr


def test_debug_flag_reraises_in_process(tmp_path, monkeypatch):
    from gencal import GencalInputError

    monkeypatch.delenv("GENCAL_DEBUG", raising=False)
    with pytest.raises(GencalInputError, match="does not exist"):
        main(["report", str(tmp_path / "nope"), "--debug"])
    monkeypatch.setenv("GENCAL_DEBUG", "1")
    with pytest.raises(GencalInputError, match="does not exist"):
        main(["report", str(tmp_path / "nope")])


@pytest.mark.parametrize(
    ("blocked", "argv", "extra"),
    [
        ("hydra", ["train", "loss=gce"], "train"),
        ("lightning", ["train", "trainer.epochs=1", "output_root=runs"], "train"),
        ("matplotlib", ["report", "synth"], "plots"),
    ],
)
def test_a_missing_extra_is_named(tmp_path, blocked, argv, extra):
    """With a module of an extra absent, the command says which extra installs it."""
    import os
    import subprocess
    import sys

    from tests.bench.conftest import make_records, write_experiment

    write_experiment(tmp_path, make_records(2))
    code = (
        f"import sys; sys.modules[{blocked!r}] = None\n"  # `import X` now fails as if absent
        "from gencal.cli import main\n"
        f"raise SystemExit(main({argv!r}))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    env.pop("GENCAL_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == proc.stderr.strip().splitlines()[0]
    assert f"pip install 'gencal[{extra}]'" in proc.stderr and blocked in proc.stderr


def test_one_line_folds_hydra_messages():
    from gencal.cli_errors import one_line

    msg = (
        "In 'config': Could not find 'loss/nope'\n\nAvailable options in 'loss':\n"
        "\tce\n\tgce\nConfig search path:\n\tprovider=hydra, path=pkg://hydra.conf"
    )
    assert one_line(msg) == (
        "In 'config': Could not find 'loss/nope'; Available options in 'loss': ce, gce"
    )
    assert one_line("Key 'x' is not in struct\n    full_key: a.x\n    object_type=dict") == (
        "Key 'x' is not in struct"
    )
    flat = "Could not find 'loss/nope' Config search path: provider=hydra, path=pkg://hydra.conf"
    assert one_line(flat) == "Could not find 'loss/nope'"


@pytest.mark.parametrize("spelling", ["experiment=demo", "+experiment=demo"])
def test_both_experiment_spellings_compose_the_preset(spelling):
    from gencal.train.config import compose_config, normalize_overrides

    cfg = compose_config(normalize_overrides([spelling, "data.kwargs.download=false"]))
    assert cfg.experiment == "demo"
    assert list(cfg.grid.loss) == ["ce", "gce", "focal", "flsd53"]  # the preset's grid
    assert cfg.data.kwargs.download is False  # a free-form key without "+"


# --------------------------------------------------------------------------- train reports


def _reference_metrics(logits, labels):
    """accuracy %, ECE-15 % and NLL written out with scipy/numpy (not gencal.metrics)."""
    logits = np.asarray(logits, dtype=np.float64)
    p = softmax(logits, axis=1)
    conf, pred = p.max(1), p.argmax(1)
    correct = (pred == labels).astype(float)
    bins = np.clip(np.ceil(conf * 15).astype(int) - 1, 0, 14)  # (b/15, (b+1)/15]
    ece = sum(
        abs(correct[bins == b].mean() - conf[bins == b].mean()) * (bins == b).mean()
        for b in range(15)
        if (bins == b).any()
    )
    nll = -log_softmax(logits, axis=1)[np.arange(len(labels)), labels].mean()
    return 100 * correct.mean(), 100 * ece, nll


def _summary_rows(out):
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in ("cal", "test"):
            rows[parts[0]] = [float(x) for x in parts[1:]]
    return rows


def test_train_prints_folder_status_and_metrics(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [
        "train",
        "+experiment=demo",
        "trainer.epochs=1",
        "trainer.threads=1",
        "model.hidden=[16]",
        f"output_root={tmp_path}",
    ]
    rc, out, err = _run(argv, capsys)
    assert rc == 0, err
    (first,) = [line for line in out.splitlines() if line.startswith("run: ")]
    assert first.endswith(" (trained)"), out
    rdir = Path(first[len("run: ") : -len(" (trained)")])
    assert rdir.parent == tmp_path / "demo" and rdir.name.startswith("digits__mlp__ce__s0")
    with np.load(rdir / "logits.npz") as f:
        arrays = {k: f[k] for k in ("cal_logits", "cal_labels", "test_logits", "test_labels")}
    rows = _summary_rows(out)
    for split in ("cal", "test"):
        n, acc, ece, nll = rows[split]
        labels = arrays[f"{split}_labels"]
        assert n == len(labels)
        ref = _reference_metrics(arrays[f"{split}_logits"], labels)
        np.testing.assert_allclose([acc, ece], ref[:2], atol=0.006)  # printed with 2 decimals
        np.testing.assert_allclose(nll, ref[2], atol=6e-5)

    # the other spelling of the preset names the same run, which is reused as it is
    stamp = (rdir / "logits.npz").stat().st_mtime_ns
    rc, out, _ = _run(["train", *[a.lstrip("+") for a in argv[1:]]], capsys)
    assert rc == 0 and f"run: {rdir} (reused)" in out
    assert (rdir / "logits.npz").stat().st_mtime_ns == stamp
    assert _summary_rows(out) == rows

    # a checkpoint without logits: resumed from it
    (rdir / "logits.npz").unlink()
    assert (rdir / "ckpt" / "last.ckpt").is_file()
    rc, out, _ = _run(argv, capsys)
    assert rc == 0 and f"run: {rdir} (resumed)" in out


@pytest.mark.parametrize(
    ("tty", "flags", "expected"),
    [
        (True, [], True),
        (False, [], False),
        (True, ["--quiet"], False),
        (True, ["-q"], False),
        (False, ["trainer.progress_bar=true"], None),  # the config decides
    ],
)
def test_train_progress_bar_follows_the_terminal(monkeypatch, tty, flags, expected):
    import sys

    import gencal.train.app as app

    seen = {}

    def fake(cfg, *, progress=None):
        seen["progress"] = progress
        seen["cfg"] = cfg

    class Out:
        def isatty(self):
            return tty

        def write(self, s):
            return len(s)

        def flush(self):
            pass

    monkeypatch.setattr(app, "train_and_report", fake)
    monkeypatch.setattr(sys, "stdout", Out())
    assert main(["train", "loss=gce", *flags]) == 0
    assert seen["progress"] is expected
    assert seen["cfg"].loss.name == "gce"


def test_bench_takes_the_plus_experiment_spelling(tmp_path, capsys):
    argv = [
        "bench",
        "+experiment=demo",
        "grid.loss=[ce]",
        "grid.seed=[0]",
        "trainer.epochs=1",
        "calibrators=[none]",
        "--output-root",
        str(tmp_path),
        "--workers",
        "1",
        "--no-report",
        "-q",
    ]
    rc, out, err = _run(argv, capsys)
    assert rc == 0, err
    (rdir,) = (tmp_path / "demo").glob("digits__mlp__ce__s0*")
    assert (rdir / "eval" / "none.json").is_file()
    assert "1 runs (1 trained now, 0 reused)" in out


@pytest.mark.parametrize(
    ("rel", "words"),
    [
        ("logits.npz", ["logits.npz", "corrupt run file"]),
        ("ckpt/last.ckpt", ["corrupt checkpoint"]),
    ],
)
def test_train_on_a_corrupt_run_file_is_a_one_line_error(tmp_path, capsys, rel, words):
    from gencal.train.config import compose_config, run_dir

    overrides = ["experiment=demo", f"output_root={tmp_path}"]
    bad = run_dir(compose_config(overrides)) / rel
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not what it should be")
    rc, out, err = _run(["train", *overrides], capsys)
    assert rc == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("gencal: error: ") and str(bad) in line
    assert all(w in line for w in words), line
    assert bad.read_bytes() == b"not what it should be"  # left for the user to look at


TINY = ["experiment=demo", "trainer.epochs=1", "trainer.threads=1", "model.hidden=[8]"]


def _trained(root):
    return sorted(p.name.rsplit("-", 1)[0] for p in (root / "demo").glob("digits__*"))


def test_bench_takes_the_multirun_syntax(tmp_path, capsys):
    rc, _, err = _run(
        ["bench", *TINY, "loss=ce,gce", "seed=0", "--output-root", str(tmp_path), "--no-figures"],
        capsys,
    )
    assert rc == 0, err
    assert _trained(tmp_path) == ["digits__mlp__ce__s0", "digits__mlp__gce__s0"]


def test_train_multirun_sweeps_the_experiments_grid(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc, _, err = _run(
        ["train", "-m", *TINY, f"output_root={tmp_path}", "grid={loss: [ce, gce], seed: [1]}"],
        capsys,
    )
    assert rc == 0, err
    assert _trained(tmp_path) == ["digits__mlp__ce__s1", "digits__mlp__gce__s1"]


def test_report_evaluate_takes_a_calibrator_preset():
    from gencal.bench.evaluate import parse_calibrators
    from gencal.cli import _calibrator_list

    labels = [c.name for c in parse_calibrators(_calibrator_list("longtail"))]
    assert {"none", "ts", "ts_bal", "ats_bal", "la", "la+ts"} <= set(labels)
    assert _calibrator_list("none,ts") == "none,ts"


def test_report_row_order_follows_the_experiment_preset_then_the_runs(tmp_path):
    from gencal.cli import _orders_from_runs

    exp = tmp_path / "demo"
    cals = ["none", {"ts_bal": {"name": "ts", "balanced": True}}]
    side = {"experiment": "demo", "grid": {"loss": ["mdca"]}, "calibrators": cals}
    for name, cfg in (("a_side", side), ("b_plain", {"experiment": "demo"})):
        (exp / name / "eval").mkdir(parents=True)
        (exp / name / "config.yaml").write_text(json.dumps(cfg))
    orders = _orders_from_runs(exp)
    assert orders["loss_order"] == ["ce", "gce", "focal", "flsd53", "mdca"]
    assert orders["calibrator_order"] == ["none", "ts_bal"]


def test_calibrate_help_names_every_registered_calibrator():
    from gencal.calibration import list_calibrators
    from gencal.cli import CALIBRATOR_NAMES

    assert sorted(CALIBRATOR_NAMES) == list_calibrators()
