"""Reliability data against a naive loop; figures written as valid PNG / SVG."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from PIL import Image

from gencal import GencalInputError
from gencal.metrics import ReliabilityData, plot_reliability, reliability_data
from tests.metrics.conftest import make_probs, naive_bin, naive_ece


def test_reliability_data_matches_naive_bins():
    p, y, _ = make_probs(400, 5, seed=90)
    d = reliability_data(p, y, 10)
    pn = p.numpy()
    conf, pred = pn.max(1), pn.argmax(1)
    correct = pred == y.numpy()
    bins = [[] for _ in range(10)]
    for c, a in zip(conf, correct):
        bins[naive_bin(float(c), 10, np.float32)].append((float(c), float(a)))
    for b in range(10):
        assert d.count[b] == len(bins[b])
        if bins[b]:
            assert d.confidence[b] == pytest.approx(np.mean([c for c, _ in bins[b]]), abs=1e-7)
            assert d.accuracy[b] == pytest.approx(np.mean([a for _, a in bins[b]]), abs=1e-12)
        else:
            assert np.isnan(d.confidence[b]) and np.isnan(d.accuracy[b])
    assert d.ece == pytest.approx(naive_ece(conf, correct, 10), abs=1e-9)
    assert d.edges.tolist() == pytest.approx(np.linspace(0, 1, 11).tolist())
    assert d.n_samples == 400 and d.n_bins == 10
    json.dumps(d.as_dict())  # JSON-friendly: None for empty bins


def test_reliability_from_logits_equals_probs():
    _, y, z = make_probs(300, 4, seed=91)
    a = reliability_data(z, y, n_bins=15, inputs="logits")
    b = reliability_data(torch.softmax(z, 1), y, 15)
    assert np.array_equal(a.count, b.count)
    assert a.ece == pytest.approx(b.ece, abs=1e-6)
    with pytest.raises(GencalInputError, match="inputs='logits'"):
        reliability_data(z, y)  # logits passed as probabilities


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_plot_writes_valid_files(tmp_path, suffix):
    p, y, z = make_probs(500, 6, seed=92)
    data = {
        "raw": reliability_data(p, y),
        "T=2": reliability_data(z / 2, y, inputs="logits"),
        "one sample": reliability_data(p[:1], y[:1]),
    }
    path = tmp_path / "sub" / f"rel.{suffix}"
    fig = plot_reliability(data, path, title="test")
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[::2]] == ["raw", "T=2", "one sample"]
    raw = path.read_bytes()
    if suffix == "png":
        assert raw[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as im:
            im.verify()
    else:
        root = ET.fromstring(raw)
        assert root.tag.endswith("svg")
    legend_texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(f"{100 * data['raw'].ece:.2f}%" in t for t in legend_texts)
    assert not list(tmp_path.glob("sub/.*.tmp"))  # atomic write leaves no temporary file


def test_plot_single_and_errors(tmp_path):
    p, y, _ = make_probs(50, 3, seed=93)
    d = reliability_data(p, y)
    fig = plot_reliability(d)
    assert len(fig.axes) == 2
    with pytest.raises(GencalInputError, match="png"):
        plot_reliability(d, tmp_path / "x.jpg")
    with pytest.raises(GencalInputError, match="ReliabilityData"):
        plot_reliability({"a": 1.0})
    with pytest.raises(GencalInputError, match="nothing"):
        plot_reliability({})
    assert isinstance(d, ReliabilityData)
