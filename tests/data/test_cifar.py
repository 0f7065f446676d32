"""CIFAR-10/100 loaders on tiny archives written in the official pickle tar.gz format."""

from __future__ import annotations

import dataclasses
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from gencal import GencalInputError
from gencal.data import DataIntegrityError, DatasetNotFoundError, load_dataset
from gencal.data import cifar as cifar_mod

from .conftest import md5

C10_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


def _tar(dest: Path, folder: str, members: dict[str, bytes]) -> None:
    with tarfile.open(dest, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def _pickle(d: dict) -> bytes:
    # Python-2 style: bytes keys, protocol 2, as in the official files.
    return pickle.dumps({k.encode(): v for k, v in d.items()}, protocol=2)


def write_cifar10(root: Path, rng, n_per_batch=4):
    imgs = {}
    members = {}
    for b in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        hwc = rng.integers(0, 256, (n_per_batch, 32, 32, 3), dtype=np.uint8)
        flat = hwc.transpose(0, 3, 1, 2).reshape(n_per_batch, 3072)  # R plane, G plane, B plane
        labels = [int(v) for v in rng.integers(0, 10, n_per_batch)]
        members[b] = _pickle(
            {"data": flat, "labels": labels, "batch_label": b.encode(), "filenames": []}
        )
        imgs[b] = (hwc, np.array(labels))
    members["batches.meta"] = _pickle(
        {"label_names": [n.encode() for n in C10_NAMES], "num_cases_per_batch": n_per_batch}
    )
    archive = root / "cifar-10-python.tar.gz"
    _tar(archive, "cifar-10-batches-py", members)
    sums = {k: md5(v) for k, v in members.items()}
    return imgs, archive, sums


def _patch(monkeypatch, name, archive, sums):
    spec = dataclasses.replace(
        cifar_mod.CIFAR_SPECS[name], md5=md5(archive.read_bytes()), member_md5=sums
    )
    monkeypatch.setitem(cifar_mod.CIFAR_SPECS, name, spec)


def test_cifar10_archive(tmp_path, rng, monkeypatch):
    imgs, archive, sums = write_cifar10(tmp_path, rng)
    _patch(monkeypatch, "cifar10", archive, sums)
    tr = load_dataset("cifar10", root=tmp_path)
    te = load_dataset("cifar10", root=tmp_path, split="test")
    assert tr.images.shape == (20, 32, 32, 3) and tr.images.dtype == np.uint8
    assert tr.labels.dtype == np.int64 and te.images.shape == (4, 32, 32, 3)
    ref = np.concatenate([imgs[f"data_batch_{i}"][0] for i in range(1, 6)])
    assert np.array_equal(tr.images, ref)
    assert np.array_equal(
        tr.labels, np.concatenate([imgs[f"data_batch_{i}"][1] for i in range(1, 6)])
    )
    assert np.array_equal(te.images, imgs["test_batch"][0])
    assert tr.class_names == C10_NAMES
    np.testing.assert_allclose(te.mean, (ref / 255.0).mean(axis=(0, 1, 2)))
    # An extracted folder works too.
    with tarfile.open(archive) as tf:
        tf.extractall(tmp_path / "x", filter="data")
    ex = load_dataset("cifar10", root=tmp_path / "x", split="test", cache=False)
    assert np.array_equal(ex.images, te.images)


def test_cifar10_official_md5_and_corruption(tmp_path, rng, monkeypatch):
    _, archive, sums = write_cifar10(tmp_path, rng)
    with pytest.raises(DataIntegrityError) as exc:  # the generated archive is not the official one
        load_dataset("cifar10", root=tmp_path, cache=False)
    assert "c58f30108f718f92721af3b95e74349a" in str(exc.value) and str(archive) in str(exc.value)
    _patch(monkeypatch, "cifar10", archive, sums)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(DataIntegrityError, match="checksum mismatch") as exc:
        load_dataset("cifar10", root=tmp_path, cache=False)
    assert str(archive) in str(exc.value)
    # Truncated with the checksum check passing (e.g. a user's own archive): a clear tar error.
    spec = dataclasses.replace(cifar_mod.CIFAR_SPECS["cifar10"], md5="", member_md5={})
    monkeypatch.setitem(cifar_mod.CIFAR_SPECS, "cifar10", spec)
    with pytest.raises(DataIntegrityError, match="truncated or corrupt") as exc:
        load_dataset("cifar10", root=tmp_path, cache=False)
    assert str(archive) in str(exc.value)


def test_safe_unpickle_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(DataIntegrityError, match="refusing"):
        cifar_mod.safe_unpickle(pickle.dumps({b"data": Evil()}, protocol=2), "x")


def test_cifar100_fine_and_coarse(tmp_path, rng, monkeypatch):
    fine_names = [f"f{i:02d}" for i in range(100)]
    coarse_names = [f"c{i:02d}" for i in range(20)]
    members, ref = {}, {}
    for s, n in (("train", 6), ("test", 3)):
        hwc = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        fine = [int(v) for v in rng.integers(0, 100, n)]
        coarse = [f // 5 for f in fine]
        members[s] = _pickle(
            {
                "data": hwc.transpose(0, 3, 1, 2).reshape(n, 3072),
                "fine_labels": fine,
                "coarse_labels": coarse,
                "filenames": [],
            }
        )
        ref[s] = (hwc, fine, coarse)
    members["meta"] = _pickle(
        {
            "fine_label_names": [n.encode() for n in fine_names],
            "coarse_label_names": [n.encode() for n in coarse_names],
        }
    )
    archive = tmp_path / "cifar-100-python.tar.gz"
    _tar(archive, "cifar-100-python", members)
    _patch(monkeypatch, "cifar100", archive, {k: md5(v) for k, v in members.items()})
    tr = load_dataset("cifar100", root=tmp_path)
    assert tr.class_names == fine_names and tr.labels.tolist() == ref["train"][1]
    assert np.array_equal(tr.images, ref["train"][0])
    te = load_dataset("cifar100", root=tmp_path, split="test", label_mode="coarse")
    assert te.class_names == coarse_names and te.labels.tolist() == ref["test"][2]
    assert te.name == "cifar100_coarse"
    with pytest.raises(GencalInputError, match="label_mode"):
        load_dataset("cifar100", root=tmp_path, label_mode="medium")


def test_cifar_missing(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        load_dataset("cifar10", root=tmp_path)
