"""Tiny-ImageNet-200 from the official zip (or its extracted folder).

Layout: ``tiny-imagenet-200/{wnids.txt, words.txt, train/<wnid>/images/<wnid>_<i>.JPEG,
val/images/val_<i>.JPEG, val/val_annotations.txt}`` (the annotations file maps each validation
image to its wnid, tab-separated). Classes are the 200 wnids of ``wnids.txt``, **sorted** (the order
of an ImageFolder over ``train/``); class names are their ``words.txt`` entries. The official test
images carry no labels, so ``split="test"`` serves the labelled official validation set (10,000
images, 50 per class) and ``split="val"`` is refused: take a calibration split from the training
data with :func:`gencal.data.stratified_split`. Images are 64x64 RGB (grayscale ones converted).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from gencal._checks import GencalInputError
from gencal.data.cache import cached_arrays, source_signature
from gencal.data.dataset import ImageDataset, add_split_arrays, dataset_from_arrays, only_split
from gencal.data.download import download_url
from gencal.data.image_folder import FolderIndex, decode_images
from gencal.data.integrity import DataIntegrityError, DatasetNotFoundError, verify_file
from gencal.data.registry import register_dataset

__all__ = ["TINY_IMAGENET_MD5", "TINY_IMAGENET_URL"]

TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
TINY_IMAGENET_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"
_TOP = "tiny-imagenet-200"


class _Tree:
    """Read text files and list members of the zip or the extracted folder."""

    def __init__(self, source: Path):
        self.source = source
        self.is_zip = source.is_file()
        if self.is_zip:
            try:
                with zipfile.ZipFile(source) as zf:
                    self.names = [i.filename for i in zf.infolist() if not i.is_dir()]
            except zipfile.BadZipFile as exc:
                raise DataIntegrityError(f"{source}: truncated or corrupt zip ({exc})") from exc
        else:
            self.names = [
                p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()
            ]
        self.prefix = _TOP + "/" if any(n.startswith(_TOP + "/") for n in self.names) else ""

    def text(self, rel: str) -> str:
        name = self.prefix + rel
        try:
            if self.is_zip:
                with zipfile.ZipFile(self.source) as zf:
                    return zf.read(name).decode("utf-8")
            return (self.source / name).read_text("utf-8")
        except (KeyError, FileNotFoundError) as exc:  # a zip member, or a file of the folder
            raise DataIntegrityError(f"{self.source}: {name} missing") from exc


def _build(source: Path, workers: int | None) -> dict[str, np.ndarray]:
    tree = _Tree(source)
    wnids = sorted(w.strip() for w in tree.text("wnids.txt").splitlines() if w.strip())
    words = {}
    for line in tree.text("words.txt").splitlines():
        if "\t" in line:
            w, desc = line.split("\t", 1)
            words[w.strip()] = desc.strip()
    cls = {w: i for i, w in enumerate(wnids)}
    p = tree.prefix
    train = sorted(
        n
        for n in tree.names
        if n.startswith(p + "train/") and n.lower().endswith(".jpeg") and "/images/" in n
    )
    train_labels = []
    for n in train:
        w = n[len(p + "train/") :].split("/", 1)[0]
        if w not in cls:
            raise DataIntegrityError(f"{source}: {n} belongs to {w}, which is not in wnids.txt")
        train_labels.append(cls[w])
    val, val_labels = [], []
    for line in tree.text("val/val_annotations.txt").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            if parts[1] not in cls:
                raise DataIntegrityError(
                    f"{source}: val annotation {parts[0]} has unknown {parts[1]}"
                )
            val.append(p + "val/images/" + parts[0])
            val_labels.append(cls[parts[1]])
    order = np.argsort(np.array(val), kind="stable")
    val = [val[i] for i in order]
    val_labels = [val_labels[i] for i in order]
    index = FolderIndex(source, tree.is_zip, {}, wnids)
    arrays: dict[str, np.ndarray] = {
        "wnids": np.array(wnids, dtype=str),
        "class_names": np.array([words.get(w, w) for w in wnids], dtype=str),
    }
    add_split_arrays(
        arrays, "train", decode_images(index, train, mode="RGB", workers=workers), train_labels
    )
    add_split_arrays(
        arrays, "test", decode_images(index, val, mode="RGB", workers=workers), val_labels
    )
    return arrays


@register_dataset("tiny_imagenet")
def load_tiny_imagenet(
    root: Path,
    split: str = "train",
    *,
    download: bool = False,
    cache_dir: Path | None = None,
    workers: int | None = None,
    verify: bool = True,
    opener=None,
) -> ImageDataset:
    r"""Load Tiny-ImageNet (``load_dataset("tiny_imagenet")``; see the module docstring).

    The source is ``<root>/tiny-imagenet-200.zip`` or the extracted ``<root>/tiny-imagenet-200/``.
    Both splits are decoded and cached together on first use.

    Args:
        root: the data folder.
        split: ``"train"``, or ``"test"`` for the labelled official validation set.
        download: fetch the zip when neither is there.
        cache_dir: folder of the decoded-array cache (``None``: no cache).
        workers: decoding threads.
        verify: check the zip's MD5 (an extracted folder is not checked).
        opener: replaces :func:`urllib.request.urlopen` for the download (tests).

    Returns:
        The :class:`ImageDataset` (uint8 ``[N, 64, 64, 3]``), normalised with the training
        split's mean and std.

    Raises:
        GencalInputError: ``split="val"`` (take a calibration split from ``train``) or another
            unknown split.
        DatasetNotFoundError: neither the zip nor the folder, and ``download=False``.
        DataIntegrityError: a checksum mismatch or an inconsistent tree.

    Example:
        A tiny extracted folder in the official layout (two classes, small images):

        >>> import tempfile
        >>> from PIL import Image
        >>> tmp = tempfile.TemporaryDirectory()
        >>> top = Path(tmp.name) / "tiny-imagenet-200"
        >>> (top / "val" / "images").mkdir(parents=True)
        >>> _ = (top / "wnids.txt").write_text("n02\nn01\n")
        >>> _ = (top / "words.txt").write_text("n01\tgoldfish\nn02\tbullfrog\n")
        >>> for wnid in ["n01", "n02"]:
        ...     (top / "train" / wnid / "images").mkdir(parents=True)
        ...     Image.new("RGB", (8, 8)).save(top / "train" / wnid / "images" / f"{wnid}_0.JPEG")
        >>> Image.new("RGB", (8, 8)).save(top / "val" / "images" / "val_0.JPEG")
        >>> _ = (top / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn02\t0\t0\t8\t8\n")
        >>> test = load_tiny_imagenet(Path(tmp.name), "test")
        >>> test.class_names, test.labels.tolist()  # classes: the wnids, sorted
        (['goldfish', 'bullfrog'], [1])
        >>> tmp.cleanup()
    """
    if split == "val":
        raise GencalInputError(
            "tiny_imagenet: the official validation set is served as split='test' (the test "
            "images have no labels); take a calibration split from 'train' with stratified_split"
        )
    if split not in ("train", "test"):
        raise GencalInputError(f"tiny_imagenet: split must be 'train' or 'test', got {split!r}")
    archive = root / "tiny-imagenet-200.zip"
    folder = root / _TOP
    if archive.is_file():
        source = archive
    elif folder.is_dir():
        source = folder
    elif download:
        source = download_url(TINY_IMAGENET_URL, archive, md5=TINY_IMAGENET_MD5, opener=opener)
    else:
        raise DatasetNotFoundError(
            f"tiny_imagenet: {archive} (or extracted {folder}) not found; pass download=True"
        )

    def build() -> dict[str, np.ndarray]:
        if verify and source.is_file():
            verify_file(source, md5=TINY_IMAGENET_MD5)
        return _build(source, workers)

    key = {"loader": "tiny_imagenet", "src": source_signature([source])}
    arrays = cached_arrays(cache_dir, "tiny_imagenet", key, build, select=only_split(split))
    return dataset_from_arrays(
        arrays, split, [str(c) for c in arrays["class_names"]], "tiny_imagenet"
    )
