"""Tiny-ImageNet (official zip layout) and MedMNIST (official .npz) on generated files."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from gencal import GencalInputError
from gencal.data import DataIntegrityError, DatasetNotFoundError, list_datasets, load_dataset
from gencal.data import medmnist as med_mod
from gencal.data import tiny_imagenet as tiny_mod

from .conftest import md5

WNIDS = ["n09999999", "n01443537", "n02085620"]  # file order is not sorted
WORDS = {"n01443537": "goldfish, Carassius auratus", "n02085620": "Chihuahua", "n09999999": "zzz"}


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")  # lossless (named .JPEG, as Pillow sniffs)
    return buf.getvalue()


def write_tiny(path, rng, n_train=2, n_val=4):
    ref_train, ref_val = {}, []
    with zipfile.ZipFile(path, "w") as zf:
        t = "tiny-imagenet-200/"
        zf.writestr(t + "wnids.txt", "\n".join(WNIDS) + "\n")
        zf.writestr(
            t + "words.txt", "".join(f"{w}\t{d}\n" for w, d in WORDS.items()) + "n00000001\tother\n"
        )
        for w in WNIDS:
            zf.writestr(t + f"train/{w}/{w}_boxes.txt", "")
            for i in range(n_train):
                arr = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                zf.writestr(t + f"train/{w}/images/{w}_{i}.JPEG", png(arr))
                ref_train[(w, i)] = arr
        ann = []
        for i in range(n_val):
            arr = rng.integers(0, 256, (8, 8), dtype=np.uint8)  # grayscale: converted to RGB
            w = WNIDS[i % 3]
            zf.writestr(t + f"val/images/val_{i}.JPEG", png(arr))
            ann.append(f"val_{i}.JPEG\t{w}\t0\t0\t63\t63")
            ref_val.append((w, arr))
        zf.writestr(t + "val/val_annotations.txt", "\n".join(ann) + "\n")
        zf.writestr(t + "test/images/test_0.JPEG", png(np.zeros((8, 8, 3), np.uint8)))
    return ref_train, ref_val


def test_tiny_imagenet_zip(tmp_path, rng, monkeypatch):
    archive = tmp_path / "tiny-imagenet-200.zip"
    ref_train, ref_val = write_tiny(archive, rng)
    monkeypatch.setattr(tiny_mod, "TINY_IMAGENET_MD5", md5(archive.read_bytes()))
    tr = load_dataset("tiny_imagenet", root=tmp_path)
    te = load_dataset("tiny_imagenet", root=tmp_path, split="test")
    sorted_w = sorted(WNIDS)
    assert tr.class_names == [WORDS[w] for w in sorted_w]
    assert tr.images.shape == (6, 8, 8, 3) and tr.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert np.array_equal(tr.images[2], ref_train[(sorted_w[1], 0)])
    assert len(te) == 4 and te.images.shape[-1] == 3
    for i, (w, arr) in enumerate(ref_val):
        assert te.labels[i] == sorted_w.index(w)
        assert np.array_equal(te.images[i], np.repeat(arr[..., None], 3, axis=2))
    with pytest.raises(GencalInputError, match="split='test'"):
        load_dataset("tiny_imagenet", root=tmp_path, split="val")


def test_tiny_imagenet_checksum(tmp_path, rng):
    archive = tmp_path / "tiny-imagenet-200.zip"
    write_tiny(archive, rng)
    with pytest.raises(DataIntegrityError) as exc:
        load_dataset("tiny_imagenet", root=tmp_path, cache=False)
    assert "90528d7ca1a48142e341f4ef8d21d0de" in str(exc.value) and str(archive) in str(exc.value)
    archive.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(DataIntegrityError, match="corrupt"):
        load_dataset("tiny_imagenet", root=tmp_path, cache=False, verify=False)


@pytest.mark.parametrize("missing", ["words.txt", "val/val_annotations.txt"])
def test_tiny_imagenet_missing_metadata(tmp_path, rng, missing):
    """A metadata file missing from the zip or from the extracted folder: the same error."""
    write_tiny(tmp_path / "full.zip", rng)
    member = "tiny-imagenet-200/" + missing
    zip_root, folder_root = tmp_path / "zip", tmp_path / "folder"
    zip_root.mkdir()
    with zipfile.ZipFile(tmp_path / "full.zip") as zf:
        zf.extractall(folder_root)
        with zipfile.ZipFile(zip_root / "tiny-imagenet-200.zip", "w") as out:
            for info in zf.infolist():
                if info.filename != member:
                    out.writestr(info, zf.read(info))
    (folder_root / member).unlink()
    for root in (zip_root, folder_root):
        with pytest.raises(DataIntegrityError, match=f"{missing} missing"):
            load_dataset("tiny_imagenet", root=root, cache=False, verify=False)


def write_medmnist(path, rng, size=28, channels=3, n=(7, 3, 5), k=9):
    arrays = {}
    for s, m in zip(("train", "val", "test"), n):
        shape = (m, size, size, 3) if channels == 3 else (m, size, size)
        arrays[f"{s}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        arrays[f"{s}_labels"] = rng.integers(0, k, (m, 1)).astype(np.uint8)
    np.savez_compressed(path, **arrays)
    return arrays


@pytest.mark.parametrize(
    "flag,size,channels,k",
    [
        ("pathmnist", 28, 3, 9),
        ("organamnist", 64, 1, 11),
        ("dermamnist", 64, 3, 7),
        ("bloodmnist", 28, 3, 8),
    ],
)
def test_medmnist_npz(tmp_path, rng, monkeypatch, flag, size, channels, k):
    folder = tmp_path / "medmnist"
    folder.mkdir()
    path = folder / (f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz")
    ref = write_medmnist(path, rng, size, channels, k=k)
    info = dict(med_mod.MEDMNIST_INFO[flag])
    info["md5"] = {**info["md5"], size: md5(path.read_bytes())}
    monkeypatch.setitem(med_mod.MEDMNIST_INFO, flag, info)
    for s in ("train", "val", "test"):
        ds = load_dataset(f"medmnist/{flag}", root=tmp_path, split=s, size=size)
        assert ds.images.shape == (len(ref[f"{s}_labels"]), size, size, channels)
        assert ds.images.dtype == np.uint8 and ds.labels.dtype == np.int64
        assert np.array_equal(ds.images.reshape(ref[f"{s}_images"].shape), ref[f"{s}_images"])
        assert np.array_equal(ds.labels, ref[f"{s}_labels"][:, 0])
        assert len(ds.class_names) == k and ds.name == f"medmnist/{flag}"
    x = ref["train_images"].astype(np.float64) / 255
    axes = (0, 1, 2, 3)[: x.ndim - (1 if channels == 3 else 0)]
    np.testing.assert_allclose(ds.mean, np.atleast_1d(x.mean(axis=axes)))


def test_medmnist_names_checksum_errors(tmp_path, rng):
    assert {
        f"medmnist/{f}" for f in ("pathmnist", "dermamnist", "bloodmnist", "organamnist")
    } <= set(list_datasets())
    assert med_mod.MEDMNIST_INFO["pathmnist"]["labels"][0] == "adipose"
    assert med_mod.medmnist_url("dermamnist", 64).endswith("/dermamnist_64.npz?download=1")
    (tmp_path / "medmnist").mkdir()
    p = tmp_path / "medmnist" / "pathmnist.npz"
    write_medmnist(p, rng)
    with pytest.raises(DataIntegrityError) as exc:
        load_dataset("medmnist/pathmnist", root=tmp_path, cache=False)
    assert "a8b06965200029087d5bd730944a56c1" in str(exc.value) and str(p) in str(exc.value)
    p.write_bytes(p.read_bytes()[:300])
    with pytest.raises(DataIntegrityError, match="corrupt"):
        load_dataset("medmnist/pathmnist", root=tmp_path, cache=False, verify=False)
    with pytest.raises(GencalInputError, match="unknown flag"):
        load_dataset("medmnist/chestmnist", root=tmp_path)
    with pytest.raises(GencalInputError, match="size"):
        load_dataset("medmnist/pathmnist", root=tmp_path, size=32)
    with pytest.raises(DatasetNotFoundError):
        load_dataset("medmnist/bloodmnist", root=tmp_path)
