"""ImageDataset, registry, digits, checksums."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from gencal import GencalInputError
from gencal.data import (
    DataIntegrityError,
    ImageDataset,
    channel_stats,
    list_datasets,
    load_dataset,
    verify_file,
)

from .conftest import md5


def test_registry_names():
    names = list_datasets()
    for n in ["digits", "fashion_mnist", "mnist", "image_folder", "cifar10_jpeg"]:
        assert n in names
    with pytest.raises(GencalInputError, match="unknown dataset"):
        load_dataset("nope")
    with pytest.raises(GencalInputError, match="split"):
        load_dataset("digits", split="bogus")
    with pytest.raises(GencalInputError, match=r"unknown option\(s\) \['sise'\].*'size'"):
        load_dataset("medmnist/pathmnist", sise=64)
    with pytest.raises(GencalInputError, match="unknown option"):
        load_dataset("cifar10", label_mod="fine")
    with pytest.raises(GencalInputError, match="unknown option"):
        load_dataset("cifar10_jpeg", mdoe="L")


def test_digits_split_and_scaling(tmp_path):
    ref = load_digits()
    tr = load_dataset("digits", root=tmp_path)
    te = load_dataset("digits", root=tmp_path, split="test")
    assert tr.images.dtype == np.uint8 and tr.images.shape[1:] == (8, 8, 1)
    assert tr.labels.dtype == np.int64
    assert len(tr) + len(te) == 1797
    assert tr.class_names == [str(i) for i in range(10)]
    # Every digits image appears exactly once across the two splits, scaled 16 -> 255.
    scaled = np.rint(ref.images * 255 / 16).astype(np.uint8)
    all_imgs = np.concatenate([tr.images[..., 0], te.images[..., 0]])
    all_lab = np.concatenate([tr.labels, te.labels])
    key = lambda a, y: sorted((y[i], a[i].tobytes()) for i in range(len(y)))  # noqa: E731
    assert key(all_imgs, all_lab) == key(scaled, ref.target)
    # Stratified: each class has ~25% in test.
    frac = te.class_counts / (te.class_counts + tr.class_counts)
    assert np.all(np.abs(frac - 0.25) < 0.01)
    # Fixed split: loading again gives the same images.
    again = load_dataset("digits", root=tmp_path, split="test")
    assert np.array_equal(again.images, te.images)
    # mean/std from the training split, [0, 1] units.
    x = tr.images.astype(np.float64) / 255
    assert tr.mean == pytest.approx((x.mean(),)) and tr.std == pytest.approx((x.std(),))
    assert te.mean == tr.mean


def test_channel_stats_matches_numpy(rng):
    imgs = rng.integers(0, 256, (7, 5, 4, 3), dtype=np.uint8)
    mean, std = channel_stats(imgs)
    x = imgs.astype(np.float64) / 255
    np.testing.assert_allclose(mean, x.mean(axis=(0, 1, 2)))
    np.testing.assert_allclose(std, x.std(axis=(0, 1, 2)))


def test_image_dataset_validation_and_subset(rng):
    imgs = rng.integers(0, 256, (6, 4, 4, 1), dtype=np.uint8)
    ds = ImageDataset(imgs, np.array([0, 1, 2, 0, 1, 2]), ["a", "b", "c"], (0.5,), (0.2,), "x")
    assert ds.class_counts.tolist() == [2, 2, 2]
    sub = ds.subset([0, 3, 4])
    assert sub.class_counts.tolist() == [2, 1, 0]
    assert np.array_equal(sub.images[1], imgs[3])
    with pytest.raises(GencalInputError, match="uint8"):
        ImageDataset(imgs.astype(np.float32), ds.labels, ds.class_names, (0.5,), (0.2,), "x")
    with pytest.raises(GencalInputError, match="labels"):
        ImageDataset(imgs, np.array([0, 1, 2, 0, 1, 3]), ds.class_names, (0.5,), (0.2,), "x")
    with pytest.raises(GencalInputError, match="mean/std"):
        ImageDataset(imgs, ds.labels, ds.class_names, (0.5, 0.5), (0.2,), "x")


def test_verify_file_names_file_and_sums(tmp_path):
    p = tmp_path / "blob.bin"
    p.write_bytes(b"hello world")
    verify_file(p, md5=md5(b"hello world"))
    with pytest.raises(DataIntegrityError) as exc:
        verify_file(p, md5="0" * 32)
    msg = str(exc.value)
    assert str(p) in msg and "0" * 32 in msg and md5(b"hello world") in msg
