"""CIFAR-10 and CIFAR-100 from the official python pickle archives.

``cifar-10-python.tar.gz`` holds ``cifar-10-batches-py/{data_batch_1..5, test_batch,
batches.meta}``; ``cifar-100-python.tar.gz`` holds ``cifar-100-python/{train, test, meta}``. Each
batch is a pickled dict with ``b"data"`` (uint8 ``[N, 3072]``, the 1024 red, then green, then blue
values of a 32x32 image, row-major) and ``b"labels"`` (CIFAR-10) or ``b"fine_labels"`` /
``b"coarse_labels"`` (CIFAR-100). The archive (or, when it is already extracted, every member) is
checked against its published MD5 *before* unpickling, and unpickling only admits plain
containers and numpy arrays (a hostile pickle cannot run code). Normalisation constants are
computed from the training split. Looked up at ``<root>/<archive>`` or the extracted folder
``<root>/<folder>/``; ``download=True`` fetches the archive from the official URL.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gencal._checks import GencalInputError
from gencal.data.cache import cached_arrays, source_signature
from gencal.data.dataset import ImageDataset, add_split_arrays, dataset_from_arrays, only_split
from gencal.data.download import download_url
from gencal.data.integrity import (
    DataIntegrityError,
    DatasetNotFoundError,
    verify_bytes,
    verify_file,
)
from gencal.data.registry import forward_signature, register_dataset

__all__ = ["CIFAR_SPECS", "safe_unpickle"]


@dataclass(frozen=True)
class CifarSpec:
    """Where a CIFAR archive comes from and what it holds (see the module docstring).

    Attributes:
        name: ``"cifar10"`` or ``"cifar100"``.
        url: the official download URL.
        archive: file name of the ``.tar.gz``.
        md5: the archive's published MD5.
        folder: the folder the archive extracts to.
        train, test: names of the pickled batches of each split.
        meta: name of the pickled metadata (class names).
        member_md5: MD5 of each member (batches and metadata); a member missing here is not
            checked.

    Example:
        >>> CIFAR_SPECS["cifar10"].train[:2], CIFAR_SPECS["cifar100"].test
        (('data_batch_1', 'data_batch_2'), ('test',))
    """

    name: str
    url: str
    archive: str
    md5: str
    folder: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    meta: str
    member_md5: dict[str, str]


CIFAR_SPECS = {
    "cifar10": CifarSpec(
        name="cifar10",
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        archive="cifar-10-python.tar.gz",
        md5="c58f30108f718f92721af3b95e74349a",
        folder="cifar-10-batches-py",
        train=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test=("test_batch",),
        meta="batches.meta",
        member_md5={
            "data_batch_1": "c99cafc152244af753f735de768cd75f",
            "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
            "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
            "data_batch_4": "634d18415352ddfa80567beed471001a",
            "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
            "test_batch": "40351d587109b95175f43aff81a1287e",
            "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
        },
    ),
    "cifar100": CifarSpec(
        name="cifar100",
        url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        archive="cifar-100-python.tar.gz",
        md5="eb9058c3a382ffc7106e4002c42a8d85",
        folder="cifar-100-python",
        train=("train",),
        test=("test",),
        meta="meta",
        member_md5={
            "train": "16019d7e3df5f24257cddd939b257f8d",
            "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
            "meta": "7973b15100ade9c7d40fb424638fde48",
        },
    ),
}

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        if module.startswith("numpy") and name in ("_reconstruct", "scalar"):
            try:
                from numpy._core import multiarray  # numpy >= 2
            except ImportError:  # pragma: no cover - numpy 1.x
                from numpy.core import multiarray

            return getattr(multiarray, name)
        return super().find_class(module, name)


def safe_unpickle(data: bytes, what: str) -> dict:
    """Unpickle a CIFAR batch (bytes keys, latin-1 for Python 2 strings), numpy arrays only.

    Only plain containers and numpy arrays are admitted: a pickle that refers to any other
    callable is refused, so a hostile file cannot run code.

    Args:
        data: the pickled bytes.
        what: names the data in error messages (e.g. ``"<archive>:data_batch_1"``).

    Returns:
        The dict, with bytes keys decoded as latin-1 (``b"labels"`` -> ``"labels"``).

    Raises:
        DataIntegrityError: not a readable pickle of a dict, or a refused reference.

    Example:
        >>> import pickle
        >>> batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 5]}
        >>> out = safe_unpickle(pickle.dumps(batch, protocol=2), "batch")  # CIFAR's protocol
        >>> sorted(out), out["data"].shape
        (['data', 'labels'], (2, 3072))
        >>> safe_unpickle(pickle.dumps(print), "evil")
        Traceback (most recent call last):
        ...
        gencal.data.integrity.DataIntegrityError: evil: not a readable CIFAR pickle (refusing to unpickle builtins.print)
    """
    try:
        obj = _SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise DataIntegrityError(f"{what}: not a readable CIFAR pickle ({exc})") from exc
    if not isinstance(obj, dict):
        raise DataIntegrityError(f"{what}: expected a pickled dict, got {type(obj).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _decode_images(batch: dict, what: str) -> np.ndarray:
    data = np.asarray(batch["data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072:
        raise DataIntegrityError(f"{what}: data has shape {data.shape}, expected [N, 3072]")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()


def _names(values) -> list[str]:
    return [v.decode("latin1") if isinstance(v, bytes) else str(v) for v in values]


def _read_members(spec: CifarSpec, root: Path, download: bool, opener) -> tuple[dict, Path]:
    """``{member: bytes}`` from the archive or the extracted folder, verified."""
    archive = root / spec.archive
    folder = root / spec.folder
    members = (*spec.train, *spec.test, spec.meta)
    if not archive.is_file() and folder.is_dir():
        out = {}
        for m in members:
            p = folder / m
            if not p.is_file():
                raise DatasetNotFoundError(f"{p}: missing member of the extracted {spec.name}")
            verify_file(p, md5=spec.member_md5.get(m))
            out[m] = p.read_bytes()
        return out, folder
    if not archive.is_file():
        if not download:
            raise DatasetNotFoundError(
                f"{spec.name}: {archive} (or extracted {folder}) not found; pass download=True"
            )
        download_url(spec.url, archive, md5=spec.md5, opener=opener)
    verify_file(archive, md5=spec.md5)
    out = {}
    try:
        with tarfile.open(archive, "r:gz") as tf:
            for info in tf:
                base = info.name.split("/")[-1]
                if info.isfile() and base in members:
                    fh = tf.extractfile(info)
                    out[base] = fh.read() if fh else b""
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DataIntegrityError(f"{archive}: truncated or corrupt tar.gz ({exc})") from exc
    missing = [m for m in members if m not in out]
    if missing:
        raise DataIntegrityError(f"{archive}: members {missing} missing from the archive")
    for m, data in out.items():
        verify_bytes(data, f"{archive}:{m}", md5=spec.member_md5.get(m))
    return out, archive


def load_cifar(
    spec: CifarSpec,
    root: Path,
    split: str,
    *,
    download: bool = False,
    cache_dir: Path | None = None,
    label_mode: str = "fine",
    opener=None,
) -> ImageDataset:
    """Load one split of CIFAR-10 or CIFAR-100 (``load_dataset("cifar10" | "cifar100")``).

    The source is ``<root>/<spec.archive>`` or, when there is no archive, the extracted
    ``<root>/<spec.folder>/``; every member is checked against ``spec``'s MD5s before it is
    unpickled (:func:`safe_unpickle`). Both splits are decoded and cached together.

    Args:
        spec: :data:`CIFAR_SPECS` ``["cifar10"]`` or ``["cifar100"]``.
        root: the folder holding the archive or the extracted folder.
        split: ``"train"`` or ``"test"``.
        download: fetch the archive from ``spec.url`` when neither is there.
        cache_dir: folder of the decoded-array cache (``None``: no cache).
        label_mode: ``"fine"`` or, for CIFAR-100 only, ``"coarse"`` (20 superclasses; the
            dataset is then named ``"cifar100_coarse"``).
        opener: replaces :func:`urllib.request.urlopen` for the download (tests).

    Returns:
        The :class:`ImageDataset` (uint8 ``[N, 32, 32, 3]``), normalised with the training
        split's per-channel mean and std.

    Raises:
        DatasetNotFoundError: no archive or folder, and ``download=False``.
        DataIntegrityError: a checksum mismatch, a truncated archive or a malformed batch.

    Example:
        A tiny extracted folder in the official format (its own files, so no MD5s to match):

        >>> import dataclasses, pickle, tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> spec = dataclasses.replace(CIFAR_SPECS["cifar10"], member_md5={})
        >>> folder = Path(tmp.name) / spec.folder
        >>> folder.mkdir()
        >>> rng = np.random.default_rng(0)
        >>> for member in (*spec.train, *spec.test):
        ...     batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
        ...              b"labels": [0, 1, 2, 3]}
        ...     _ = (folder / member).write_bytes(pickle.dumps(batch, protocol=2))
        >>> names = "airplane automobile bird cat deer dog frog horse ship truck".split()
        >>> meta = {b"label_names": [n.encode() for n in names]}
        >>> _ = (folder / spec.meta).write_bytes(pickle.dumps(meta, protocol=2))
        >>> train = load_cifar(spec, Path(tmp.name), "train")
        >>> train
        ImageDataset(name='cifar10', split='train', n=20, shape=(32, 32, 3), classes=10)
        >>> train.class_names[:2], train.class_counts.tolist()[:5]
        (['airplane', 'automobile'], [5, 5, 5, 5, 0])
        >>> tmp.cleanup()
    """
    if split not in ("train", "test"):
        raise GencalInputError(f"{spec.name}: split must be 'train' or 'test', got {split!r}")
    if label_mode not in ("fine", "coarse"):
        raise GencalInputError(f"label_mode: expected 'fine' or 'coarse', got {label_mode!r}")
    if spec.name == "cifar10" and label_mode != "fine":
        raise GencalInputError("label_mode='coarse' exists only for cifar100")
    source = root / spec.archive if (root / spec.archive).is_file() else root / spec.folder
    if not source.exists():
        _read_members(spec, root, download, opener)  # raises or downloads
        source = root / spec.archive

    def build() -> dict[str, np.ndarray]:
        raw, where = _read_members(spec, root, download, opener)
        meta = safe_unpickle(raw[spec.meta], f"{where}:{spec.meta}")
        arrays: dict[str, np.ndarray] = {}
        key = "labels" if spec.name == "cifar10" else f"{label_mode}_labels"
        names_key = "label_names" if spec.name == "cifar10" else f"{label_mode}_label_names"
        arrays["class_names"] = np.array(_names(meta[names_key]), dtype=str)
        for s, batches in (("train", spec.train), ("test", spec.test)):
            imgs, labs = [], []
            for b in batches:
                batch = safe_unpickle(raw[b], f"{where}:{b}")
                imgs.append(_decode_images(batch, f"{where}:{b}"))
                labs.append(np.asarray(batch[key], dtype=np.int64))
                if len(labs[-1]) != len(imgs[-1]):
                    raise DataIntegrityError(
                        f"{where}:{b}: {len(labs[-1])} labels for {len(imgs[-1])} images"
                    )
            add_split_arrays(arrays, s, np.concatenate(imgs), np.concatenate(labs))
        return arrays

    key = {"loader": spec.name, "labels": label_mode, "src": source_signature([source])}
    arrays = cached_arrays(
        cache_dir, f"{spec.name}-{label_mode}", key, build, select=only_split(split)
    )
    name = spec.name if label_mode == "fine" else f"{spec.name}_coarse"
    return dataset_from_arrays(arrays, split, [str(c) for c in arrays["class_names"]], name)


@register_dataset("cifar10")
def _load_cifar10(root: Path, split: str, **kw) -> ImageDataset:
    return load_cifar(CIFAR_SPECS["cifar10"], root, split, **kw)


@register_dataset("cifar100")
def _load_cifar100(root: Path, split: str, **kw) -> ImageDataset:
    return load_cifar(CIFAR_SPECS["cifar100"], root, split, **kw)


forward_signature(_load_cifar10, load_cifar)
forward_signature(_load_cifar100, load_cifar)
