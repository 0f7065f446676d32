"""The Hydra app in-process: one run, and a multirun sweep with Hydra's basic launcher."""

from __future__ import annotations

import yaml

from gencal.train import is_finished, load_run
from gencal.train.app import main


def test_app_trains_one_run_and_a_multirun(tmp_path, capsys):
    common = [
        "experiment=demo",
        f"output_root={tmp_path}",
        "trainer.epochs=1",
        "trainer.threads=1",
        "model.hidden=[16]",
    ]
    main([*common, "loss=gce", "seed=4"])
    (rdir,) = (tmp_path / "demo").glob("digits__mlp__gce__s4-*")
    assert str(rdir) in capsys.readouterr().out
    meta = load_run(rdir).meta
    assert meta["config"]["overrides"][-2:] == ["loss=gce", "seed=4"]
    assert yaml.safe_load((rdir / "config.yaml").read_text())["model"]["hidden"] == [16]

    main(["-m", *common, "loss=ce,focal", "seed=0"])
    for loss in ("ce", "focal"):
        (rdir,) = (tmp_path / "demo").glob(f"digits__mlp__{loss}__s0-*")
        assert is_finished(rdir)
