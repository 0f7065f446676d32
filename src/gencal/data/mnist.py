"""MNIST and Fashion-MNIST from IDX files (``.gz`` or uncompressed).

Files are looked up in ``path`` (if given), ``<root>/<name>/``, ``<root>/<name>/raw/`` and, for
Fashion-MNIST, ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``).
Integrity: Fashion-MNIST is checked against the MD5 of the *decompressed* IDX bytes (so it holds
for the official files and for Debian's re-gzipped ones alike). For MNIST only the MD5s of the
official ``.gz`` files are published, so a ``.gz`` file must match those and an uncompressed file is
checked structurally (IDX header, sizes, label range). ``download=True`` fetches the official
``.gz`` files (verified against their published MD5s).
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gencal._checks import GencalInputError
from gencal.data.cache import cached_arrays, source_signature
from gencal.data.dataset import ImageDataset
from gencal.data.download import download_url
from gencal.data.integrity import (
    DataIntegrityError,
    DatasetNotFoundError,
    bytes_digest,
)
from gencal.data.registry import forward_signature, register_dataset

__all__ = ["IDX_SPECS", "load_idx_dataset", "read_idx"]

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class IdxSpec:
    """Where an IDX dataset comes from and how it is checked (see the module docstring).

    Attributes:
        name: ``"mnist"`` or ``"fashion_mnist"`` (also the folder under ``root``).
        mirrors: base URLs tried in order for the ``.gz`` files.
        gz_md5: published MD5 of each ``.gz`` file, by file stem.
        raw_md5: MD5 of each decompressed IDX file, by stem (empty: only structural checks).
        class_names: names of the classes, index = label.
        mean, std: the normalisation constants in [0, 1] units.
        system_dirs: further folders searched (a distribution's package).

    Example:
        >>> IDX_SPECS["fashion_mnist"].class_names[:3], IDX_SPECS["mnist"].mean
        (('T-shirt/top', 'Trouser', 'Pullover'), 0.1307)
    """

    name: str
    mirrors: tuple[str, ...]
    gz_md5: dict[str, str]
    raw_md5: dict[str, str]
    class_names: tuple[str, ...]
    mean: float
    std: float
    system_dirs: tuple[str, ...] = ()


IDX_SPECS = {
    "mnist": IdxSpec(
        name="mnist",
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        gz_md5={
            "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        raw_md5={},
        class_names=tuple(str(i) for i in range(10)),
        mean=0.1307,
        std=0.3081,
    ),
    "fashion_mnist": IdxSpec(
        name="fashion_mnist",
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        gz_md5={
            "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        raw_md5={
            "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
            "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
            "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
        },
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        mean=0.2860,
        std=0.3530,
        system_dirs=("/usr/share/datasets/fashion-mnist",),
    ),
}

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(data: bytes, what: str) -> np.ndarray:
    """Parse IDX bytes (magic ``00 00 <type> <ndim>``, big-endian int32 dims, then the data).

    Args:
        data: the whole (decompressed) file.
        what: names the data in error messages.

    Returns:
        A read-only array of the header's shape and type (type ``0x08``: uint8).

    Raises:
        DataIntegrityError: a bad magic number, or a data length that differs from the header's.

    Example:
        >>> read_idx(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]), "labels")  # 1-D, 3 uint8 values
        array([7, 8, 9], dtype=uint8)
        >>> read_idx(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8]), "labels")
        Traceback (most recent call last):
        ...
        gencal.data.integrity.DataIntegrityError: labels: truncated or corrupt IDX file: header says (3,) (3 data bytes), file has 2
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataIntegrityError(f"{what}: not an IDX file (bad magic number {data[:4]!r})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataIntegrityError(f"{what}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    need = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != need:
        raise DataIntegrityError(
            f"{what}: truncated or corrupt IDX file: header says {dims} ({need} data bytes), "
            f"file has {len(data) - header}"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def _find(spec: IdxSpec, stem: str, dirs: list[Path]) -> Path | None:
    for d in dirs:
        for fname in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
            p = d / fname
            if p.is_file():
                return p
    return None


def _read_verified(spec: IdxSpec, stem: str, path: Path) -> bytes:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise DataIntegrityError(f"{path}: truncated or corrupt gzip file ({exc})") from exc
    else:
        data = raw
    want = spec.raw_md5.get(stem)
    if want:
        got = bytes_digest(data)
        if got != want:
            raise DataIntegrityError(
                f"{path}: md5 of the decompressed IDX data does not match (expected {want}, "
                f"got {got}); the file is corrupt or truncated"
            )
    elif path.suffix == ".gz" and stem in spec.gz_md5:
        got = bytes_digest(raw)
        if got != spec.gz_md5[stem]:
            raise DataIntegrityError(
                f"{path}: md5 checksum mismatch (expected {spec.gz_md5[stem]}, got {got}); "
                "the file is corrupt or truncated"
            )
    return data


def load_idx_dataset(
    spec: IdxSpec,
    root: Path,
    split: str,
    *,
    download: bool = False,
    cache_dir: Path | None = None,
    path: str | Path | None = None,
    opener=None,
) -> ImageDataset:
    """Load one split of MNIST or Fashion-MNIST (``load_dataset("mnist" | "fashion_mnist")``).

    The IDX files (``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte``, or ``t10k-``
    for the test split; ``.gz`` or uncompressed) are looked up in ``path``, ``<root>/<name>/``,
    ``<root>/<name>/raw/``, ``<root>/<name with - for _>/`` and the spec's system folders.

    Args:
        spec: :data:`IDX_SPECS` ``["mnist"]`` or ``["fashion_mnist"]``.
        root: the data folder.
        split: ``"train"`` or ``"test"``.
        download: fetch the official ``.gz`` files when they are missing.
        cache_dir: folder of the decoded-array cache (``None``: no cache).
        path: a folder searched first.
        opener: replaces :func:`urllib.request.urlopen` for the download (tests).

    Returns:
        The :class:`ImageDataset` (uint8 ``[N, 28, 28, 1]``) with the spec's mean and std.

    Raises:
        DatasetNotFoundError: files missing and ``download=False``.
        DataIntegrityError: a checksum mismatch, a corrupt file or labels out of range.

    Example:
        Two uncompressed IDX files of three images (MNIST checks these structurally):

        >>> import tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> folder = Path(tmp.name) / "mnist"
        >>> folder.mkdir()
        >>> header = bytes([0, 0, 8, 3]) + np.array([3, 28, 28], ">i4").tobytes()  # uint8, 3-D
        >>> _ = (folder / "t10k-images-idx3-ubyte").write_bytes(header + bytes(3 * 28 * 28))
        >>> labels = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 1, 7])  # uint8, 1-D of 3: 7, 1, 7
        >>> _ = (folder / "t10k-labels-idx1-ubyte").write_bytes(labels)
        >>> test = load_idx_dataset(IDX_SPECS["mnist"], Path(tmp.name), "test")
        >>> test, test.labels.tolist()
        (ImageDataset(name='mnist', split='test', n=3, shape=(28, 28, 1), classes=10), [7, 1, 7])
        >>> tmp.cleanup()
    """
    if split not in _FILES:
        raise GencalInputError(f"{spec.name}: split must be 'train' or 'test', got {split!r}")
    dirs = [Path(path)] if path is not None else []
    dirs += [root / spec.name, root / spec.name / "raw", root / spec.name.replace("_", "-")]
    dirs += [Path(d) for d in spec.system_dirs]
    stems = _FILES[split]
    found = [_find(spec, s, dirs) for s in stems]
    if any(f is None for f in found):
        if not download:
            raise DatasetNotFoundError(
                f"{spec.name}: IDX files {stems} not found in any of "
                f"{[str(d) for d in dirs]}; pass download=True or path=..."
            )
        target = root / spec.name
        found = [
            download_url(
                [m + s + ".gz" for m in spec.mirrors],
                target / (s + ".gz"),
                md5=spec.gz_md5[s],
                opener=opener,
            )
            for s in stems
        ]
    img_path, lab_path = found  # type: ignore[misc]

    def build() -> dict[str, np.ndarray]:
        imgs = read_idx(_read_verified(spec, stems[0], img_path), str(img_path))
        labs = read_idx(_read_verified(spec, stems[1], lab_path), str(lab_path))
        if imgs.ndim != 3 or labs.ndim != 1 or len(imgs) != len(labs):
            raise DataIntegrityError(
                f"{img_path}, {lab_path}: shapes {imgs.shape} and {labs.shape} do not match"
            )
        if labs.max(initial=0) >= len(spec.class_names):
            raise DataIntegrityError(f"{lab_path}: label {labs.max()} out of range")
        return {"images": imgs[..., None].astype(np.uint8), "labels": labs.astype(np.int64)}

    key = {"loader": spec.name, "split": split, "src": source_signature([img_path, lab_path])}
    arrays = cached_arrays(cache_dir, f"{spec.name}-{split}", key, build)
    return ImageDataset(
        images=arrays["images"],
        labels=arrays["labels"],
        class_names=list(spec.class_names),
        mean=(spec.mean,),
        std=(spec.std,),
        name=spec.name,
        split=split,
    )


@register_dataset("mnist")
def _load_mnist(root: Path, split: str, **kw) -> ImageDataset:
    return load_idx_dataset(IDX_SPECS["mnist"], root, split, **kw)


@register_dataset("fashion_mnist")
def _load_fashion(root: Path, split: str, **kw) -> ImageDataset:
    return load_idx_dataset(IDX_SPECS["fashion_mnist"], root, split, **kw)


forward_signature(_load_mnist, load_idx_dataset)
forward_signature(_load_fashion, load_idx_dataset)
