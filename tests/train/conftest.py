"""Shared helpers for the trainer tests: tiny digits runs on one thread."""

from __future__ import annotations

import warnings

import pytest
import torch

from gencal.train import compose_config


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        yield
    torch.set_num_threads(n)


def tiny_cfg(tmp_path, *extra: str, epochs: int = 2):
    """The demo experiment on digits, a few epochs, written under ``tmp_path``."""
    return compose_config(
        [
            "experiment=demo",
            f"output_root={tmp_path}",
            f"trainer.epochs={epochs}",
            "trainer.threads=1",
            "model.hidden=[32]",
            *extra,
        ]
    )
