"""Image folder trees (directory and zip) on generated files, and the real CIFAR-10 JPEG zip."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gencal import GencalInputError
from gencal.data import DataIntegrityError, StreamingImageFolder, load_dataset, streaming_loader
from gencal.data import image_folder as ifmod

from .conftest import SHARED_DATA

CLASSES = ["zebra", "ant", "mole"]  # sorted: ant, mole, zebra


def make_tree(base: Path, rng, splits=("train", "test"), n=3, size=(6, 5), mode="RGB"):
    """Write PNG (lossless) images base/<split>/<class>/<i>.png; returns {split: (imgs, labels)}."""
    out = {}
    for s in splits:
        imgs, labels = [], []
        for label, cls in enumerate(sorted(CLASSES)):
            d = base / s / cls if s else base / cls
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                shape = (*size, 3) if mode == "RGB" else size
                arr = rng.integers(0, 256, shape, dtype=np.uint8)
                Image.fromarray(arr).save(d / f"{i:03d}.png")
                imgs.append(arr if arr.ndim == 3 else arr[..., None])
                labels.append(label)
        out[s] = (np.stack(imgs), np.array(labels))
    return out


def zip_tree(base: Path, dest: Path, wrap: str = "") -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
        for p in sorted(base.rglob("*")):
            if p.is_file():
                zf.write(p, wrap + p.relative_to(base).as_posix())
    return dest


@pytest.mark.parametrize("as_zip", [False, True])
def test_image_folder_splits(tmp_path, rng, as_zip):
    ref = make_tree(tmp_path / "tree", rng)
    path = (
        zip_tree(tmp_path / "tree", tmp_path / "t.zip", wrap="t/") if as_zip else tmp_path / "tree"
    )
    tr = load_dataset("image_folder", root=tmp_path, path=path, split="train", workers=2)
    te = load_dataset("image_folder", root=tmp_path, path=path, split="test")
    assert tr.class_names == ["ant", "mole", "zebra"]
    assert tr.images.shape == (9, 6, 5, 3) and tr.images.dtype == np.uint8
    assert np.array_equal(tr.images, ref["train"][0]) and np.array_equal(tr.labels, ref["train"][1])
    assert np.array_equal(te.images, ref["test"][0]) and np.array_equal(te.labels, ref["test"][1])
    x = ref["train"][0].astype(np.float64) / 255
    np.testing.assert_allclose(tr.mean, x.mean(axis=(0, 1, 2)))
    np.testing.assert_allclose(te.std, x.std(axis=(0, 1, 2)))  # test uses train's constants
    with pytest.raises(GencalInputError, match="no 'val' split"):
        load_dataset("image_folder", root=tmp_path, path=path, split="val")


def test_image_folder_without_splits_grayscale(tmp_path, rng):
    ref = make_tree(tmp_path / "flat", rng, splits=("",), mode="L", size=(4, 4))
    ds = load_dataset("image_folder", root=tmp_path, path=tmp_path / "flat", cache=False)
    assert ds.images.shape == (9, 4, 4, 1) and ds.split == "train"
    assert np.array_equal(ds.images, ref[""][0])


def test_image_folder_sizes_and_resize(tmp_path, rng):
    make_tree(tmp_path / "a", rng, splits=("",), n=1, size=(4, 4))
    Image.fromarray(rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)).save(
        tmp_path / "a" / "ant" / "x.png"
    )
    with pytest.raises(GencalInputError, match="size=") as exc:
        load_dataset("image_folder", path=tmp_path / "a", cache=False)
    assert "x.png" in str(exc.value)
    ds = load_dataset("image_folder", path=tmp_path / "a", cache=False, size=(4, 4))
    assert ds.images.shape == (4, 4, 4, 3)


def test_corrupt_image_and_zip(tmp_path, rng):
    make_tree(tmp_path / "c", rng, splits=("",), n=2)
    bad = tmp_path / "c" / "mole" / "001.png"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(DataIntegrityError) as exc:
        load_dataset("image_folder", path=tmp_path / "c", cache=False)
    assert "001.png" in str(exc.value)
    z = zip_tree(tmp_path / "c", tmp_path / "c.zip")
    z.write_bytes(z.read_bytes()[:100])
    with pytest.raises(DataIntegrityError) as exc:
        load_dataset("image_folder", path=z, cache=False)
    assert str(z) in str(exc.value)


def test_image_folder_cache_reused(tmp_path, rng, monkeypatch):
    make_tree(tmp_path / "tree", rng)
    z = zip_tree(tmp_path / "tree", tmp_path / "t.zip")
    a = load_dataset("image_folder", root=tmp_path, path=z)
    assert len(list((tmp_path / "cache").glob("image_folder-t-*.npz"))) == 1

    def boom(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(ifmod, "decode_images", boom)
    monkeypatch.setattr(ifmod, "index_image_folder", boom)
    b = load_dataset("image_folder", root=tmp_path, path=z)
    assert np.array_equal(a.images, b.images) and a.class_names == b.class_names


def test_streaming_matches_in_memory(tmp_path, rng):
    ref = make_tree(tmp_path / "tree", rng)
    z = zip_tree(tmp_path / "tree", tmp_path / "t.zip")
    ds = StreamingImageFolder(z, "train")
    assert len(ds) == 9 and ds.class_names == ["ant", "mole", "zebra"]
    loader = streaming_loader(ds, batch_size=4, shuffle=False, num_workers=0)
    xs, ys = zip(*loader)
    assert np.array_equal(np.concatenate([x.numpy() for x in xs]), ref["train"][0])
    assert np.array_equal(np.concatenate([y.numpy() for y in ys]), ref["train"][1])


@pytest.mark.realdata
@pytest.mark.slow
def test_real_cifar10_jpeg(tmp_path):
    z = SHARED_DATA / "cifar10-jpeg.zip"
    if not z.is_file():
        pytest.skip(f"{z} missing (the CIFAR-10 JPEG archive beside the checkout)")
    root = os.environ.get("GENCAL_DATA") or tmp_path  # a persistent cache makes reruns fast
    tr = load_dataset("cifar10_jpeg", root=root, path=z)
    te = load_dataset("cifar10_jpeg", root=root, path=z, split="test")
    assert tr.images.shape == (50000, 32, 32, 3) and te.images.shape == (10000, 32, 32, 3)
    assert tr.class_counts.tolist() == [5000] * 10 and te.class_counts.tolist() == [1000] * 10
    assert tr.class_names == [
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck",
    ]  # fmt: skip
    # Spot-check pixels against an independent decode of one member.
    with zipfile.ZipFile(z) as zf:
        arr = np.asarray(Image.open(zf.open("test/ship/0007.jpg")).convert("RGB"))
    assert np.array_equal(te.images[8 * 1000 + 7], arr)


def test_streaming_with_worker_processes(tmp_path, rng):
    ref = make_tree(tmp_path / "tree", rng, n=4)
    z = zip_tree(tmp_path / "tree", tmp_path / "t.zip")
    ds = StreamingImageFolder(z, "test")
    loader = streaming_loader(ds, batch_size=5, shuffle=True, seed=0, num_workers=2)
    xs, ys = zip(*loader)
    x = np.concatenate([b.numpy() for b in xs])
    y = np.concatenate([b.numpy() for b in ys])
    assert x.shape == (12, 6, 5, 3)
    # Shuffled, but each (image, label) pair is intact and every image appears once.
    order = [int(np.flatnonzero((ref["test"][0] == img).all(axis=(1, 2, 3)))[0]) for img in x]
    assert sorted(order) == list(range(12)) and np.array_equal(ref["test"][1][order], y)
