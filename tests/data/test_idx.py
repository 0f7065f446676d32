"""MNIST / Fashion-MNIST IDX loaders on generated files, and the real Fashion-MNIST."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest

from gencal.data import DataIntegrityError, DatasetNotFoundError, load_dataset
from gencal.data import mnist as mnist_mod

from .conftest import FASHION_DIR, write_idx_set


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_generated(tmp_path, gz, monkeypatch):
    arrays, _, gz_sums = write_idx_set(tmp_path / "mnist", gz=gz)
    spec = mnist_mod.IDX_SPECS["mnist"]
    if gz:  # MNIST .gz files are checked against the (here: generated) archive MD5s
        fake = mnist_mod.IdxSpec(**{**spec.__dict__, "gz_md5": gz_sums})
        monkeypatch.setitem(mnist_mod.IDX_SPECS, "mnist", fake)
    tr = load_dataset("mnist", root=tmp_path)
    te = load_dataset("mnist", root=tmp_path, split="test")
    assert tr.images.shape == (20, 28, 28, 1) and tr.images.dtype == np.uint8
    assert te.images.shape == (10, 28, 28, 1)
    assert np.array_equal(tr.images[..., 0], arrays["train-images-idx3-ubyte"])
    assert np.array_equal(tr.labels, arrays["train-labels-idx1-ubyte"].astype(np.int64))
    assert np.array_equal(te.labels, arrays["t10k-labels-idx1-ubyte"].astype(np.int64))
    assert tr.labels.dtype == np.int64
    assert tr.class_names == [str(i) for i in range(10)]
    assert tr.mean == (0.1307,) and tr.std == (0.3081,)


def test_fashion_checksum_of_decompressed(tmp_path, monkeypatch):
    arrays, sums, _ = write_idx_set(tmp_path / "fashion_mnist")
    spec = mnist_mod.IDX_SPECS["fashion_mnist"]
    fake = mnist_mod.IdxSpec(**{**spec.__dict__, "raw_md5": sums, "system_dirs": ()})
    monkeypatch.setitem(mnist_mod.IDX_SPECS, "fashion_mnist", fake)
    ds = load_dataset("fashion_mnist", root=tmp_path, cache=False)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert np.array_equal(ds.images[..., 0], arrays["train-images-idx3-ubyte"])
    # A re-gzipped file (different gz bytes, same content) still passes: Debian's case.
    p = tmp_path / "fashion_mnist" / "train-labels-idx1-ubyte.gz"
    p.write_bytes(gzip.compress(gzip.decompress(p.read_bytes()), compresslevel=1))
    load_dataset("fashion_mnist", root=tmp_path, cache=False)
    # Same-length corruption of the content: checksum error naming the file and both sums.
    raw = bytearray(gzip.decompress(p.read_bytes()))
    raw[-1] ^= 1
    p.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataIntegrityError) as exc:
        load_dataset("fashion_mnist", root=tmp_path, cache=False)
    msg = str(exc.value)
    assert str(p) in msg and sums["train-labels-idx1-ubyte"] in msg and "got" in msg


def test_truncated_files_raise_clear_errors(tmp_path):
    write_idx_set(tmp_path / "mnist", gz=False)
    p = tmp_path / "mnist" / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(DataIntegrityError, match="truncated") as exc:
        load_dataset("mnist", root=tmp_path, cache=False)
    assert str(p) in str(exc.value)
    # A truncated gzip stream.
    write_idx_set(tmp_path / "m2" / "mnist", gz=True)
    g = tmp_path / "m2" / "mnist" / "t10k-images-idx3-ubyte.gz"
    g.write_bytes(g.read_bytes()[:-30])
    with pytest.raises(DataIntegrityError) as exc:
        load_dataset("mnist", root=tmp_path / "m2", split="test", cache=False)
    assert str(g) in str(exc.value)


def test_missing_files(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        load_dataset("mnist", root=tmp_path)


def test_official_gz_md5_checked(tmp_path):
    write_idx_set(tmp_path / "mnist", gz=True)
    with pytest.raises(DataIntegrityError) as exc:
        load_dataset("mnist", root=tmp_path, cache=False)
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in str(exc.value)  # the published MD5


def test_cache_written_and_reused(tmp_path, monkeypatch):
    write_idx_set(tmp_path / "mnist", gz=False)
    first = load_dataset("mnist", root=tmp_path)
    files = list((tmp_path / "cache").glob("mnist-train-*.npz"))
    assert len(files) == 1
    assert not list((tmp_path / "cache").glob(".*.tmp"))  # atomic: no temp left behind

    def boom(*a, **k):
        raise AssertionError("decoded again instead of using the cache")

    monkeypatch.setattr(mnist_mod, "read_idx", boom)
    again = load_dataset("mnist", root=tmp_path)
    assert np.array_equal(again.images, first.images)
    # A changed source (new mtime/size) is decoded again.
    p = tmp_path / "mnist" / "train-labels-idx1-ubyte"
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="decoded again"):
        load_dataset("mnist", root=tmp_path)


@pytest.mark.realdata
def test_real_fashion_mnist(tmp_path):
    if not FASHION_DIR.is_dir():
        pytest.skip(f"{FASHION_DIR} missing: install the Debian package dataset-fashion-mnist")
    tr = load_dataset("fashion_mnist", root=tmp_path)
    te = load_dataset("fashion_mnist", root=tmp_path, split="test")
    assert tr.images.shape == (60000, 28, 28, 1) and te.images.shape == (10000, 28, 28, 1)
    assert tr.class_counts.tolist() == [6000] * 10
    assert te.class_counts.tolist() == [1000] * 10
    x = tr.images.astype(np.float32) / 255
    assert abs(x.mean() - tr.mean[0]) < 1e-3 and abs(x.std() - tr.std[0]) < 1e-3


def test_cache_write_is_atomic(tmp_path, monkeypatch):
    write_idx_set(tmp_path / "mnist", gz=False)
    real_savez = np.savez

    def crash(fh, **arrays):
        real_savez(fh, **arrays)
        fh.write(b"partial")
        raise KeyboardInterrupt  # killed mid-write

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        load_dataset("mnist", root=tmp_path)
    assert list((tmp_path / "cache").iterdir()) == []  # no cache file, no temporary left
    monkeypatch.setattr(np, "savez", real_savez)
    ds = load_dataset("mnist", root=tmp_path)
    assert len(ds) == 20 and len(list((tmp_path / "cache").glob("mnist-*.npz"))) == 1
    # A corrupt cache file is rebuilt, not used.
    cached = next((tmp_path / "cache").glob("mnist-*.npz"))
    cached.write_bytes(b"garbage")
    again = load_dataset("mnist", root=tmp_path)
    assert np.array_equal(again.images, ds.images)
