"""Image folder trees, as a directory or a zip archive: ``[<split>/]<class>/<image>``.

Class names are the folder names, sorted (label = position). With ``split`` given and a folder of
that name at the top (as in ``cifar10-jpeg.zip``: ``train/`` and ``test/``), the split's tree is
used; a tree whose top folders are the classes is served as the ``train`` split. Files are sorted
by path within each class. Every image is converted to ``mode`` (``"RGB"`` or ``"L"``; default:
``"L"`` if the first image is grayscale, else ``"RGB"``); images of different sizes need
``size=(H, W)`` (bilinear resize). Decoding runs on a thread pool (Pillow releases the GIL while
decoding); the decoded arrays of *all* splits are cached in one uncompressed ``.npz`` keyed by the
source's path, size and modification time, so the second load reads arrays only.
The normalisation constants are those of the ``train`` split when there is one.
"""

from __future__ import annotations

import io
import os
import threading
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from gencal._checks import GencalInputError
from gencal.data.cache import cached_arrays, source_signature
from gencal.data.dataset import ImageDataset, channel_stats
from gencal.data.integrity import DataIntegrityError, DatasetNotFoundError
from gencal.data.registry import forward_signature, register_dataset

__all__ = [
    "IMAGE_EXTENSIONS",
    "FolderIndex",
    "decode_images",
    "index_image_folder",
    "load_image_folder",
]

IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".gif",
    ".webp",
    ".tif",
    ".tiff",
    ".ppm",
    ".pgm",
)
SPLIT_NAMES = ("train", "val", "test")


class FolderIndex:
    """The files of an image tree, by split, as :func:`index_image_folder` lists them.

    Attributes:
        source: the folder or zip archive.
        is_zip: whether ``source`` is a zip archive.
        splits: ``{split: (paths, labels)}``: paths relative to ``source`` (inside the archive
            for a zip), sorted by class then path; labels int64 ``[N]``.
        class_names: the class folder names, sorted (index = label).

    Example:
        >>> splits = {"train": (["cat/0.png", "dog/1.png"], np.array([0, 1]))}
        >>> index = FolderIndex(Path("pets"), False, splits, ["cat", "dog"])
        >>> index.splits["train"][1].tolist(), index.class_names
        ([0, 1], ['cat', 'dog'])
    """

    def __init__(
        self,
        source: Path,
        is_zip: bool,
        splits: dict[str, tuple[list[str], np.ndarray]],
        class_names: list[str],
    ):
        self.source = source
        self.is_zip = is_zip
        self.splits = splits
        self.class_names = class_names


def _list_files(source: Path) -> tuple[bool, list[str]]:
    if source.is_dir():
        files = []
        for dirpath, _dirs, names in os.walk(source):
            for n in names:
                files.append(os.path.relpath(os.path.join(dirpath, n), source).replace(os.sep, "/"))
        return False, files
    if source.is_file():
        try:
            with zipfile.ZipFile(source) as zf:
                return True, [i.filename for i in zf.infolist() if not i.is_dir()]
        except zipfile.BadZipFile as exc:
            raise DataIntegrityError(f"{source}: not a readable zip archive ({exc})") from exc
    raise DatasetNotFoundError(f"{source}: no such image folder or zip archive")


def index_image_folder(source: str | os.PathLike[str]) -> FolderIndex:
    """List the images of a tree (directory or zip), by split and class.

    Nothing is decoded; the layout rules are those of the module docstring (split folders
    ``train``/``val``/``test`` when present, else one ``train`` split; one wrapping folder
    skipped; hidden files and ``__MACOSX`` ignored; extensions :data:`IMAGE_EXTENSIONS`).

    Args:
        source: a directory or a ``.zip`` file.

    Returns:
        The :class:`FolderIndex`.

    Raises:
        DatasetNotFoundError: ``source`` does not exist or holds no ``<class>/<image>`` files.
        DataIntegrityError: ``source`` is a file but not a readable zip archive.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> tmp = tempfile.TemporaryDirectory()
        >>> for rel in ["train/dog/1.png", "train/cat/0.png", "test/cat/2.png"]:
        ...     (Path(tmp.name) / rel).parent.mkdir(parents=True, exist_ok=True)
        ...     Image.new("RGB", (4, 4)).save(Path(tmp.name) / rel)
        >>> index = index_image_folder(tmp.name)
        >>> index.class_names, sorted(index.splits)
        (['cat', 'dog'], ['test', 'train'])
        >>> files, labels = index.splits["train"]
        >>> files, labels.tolist()
        (['train/cat/0.png', 'train/dog/1.png'], [0, 1])
        >>> tmp.cleanup()
    """
    source = Path(source).expanduser()
    is_zip, files = _list_files(source)
    files = sorted(f for f in files if f.lower().endswith(IMAGE_EXTENSIONS) and "/" in f)
    files = [
        f for f in files if not any(part.startswith((".", "__MACOSX")) for part in f.split("/"))
    ]
    if not files:
        raise DatasetNotFoundError(f"{source}: no image files (<class>/<image>) found")
    # A single wrapping folder (e.g. archive.zip -> archive/...) is skipped.
    prefix = ""
    while True:
        tops = {f.split("/", 1)[0] for f in files}
        if (
            len(tops) == 1
            and not tops <= set(SPLIT_NAMES)
            and all(f.count("/") >= 2 for f in files)
        ):
            top = tops.pop()
            prefix += top + "/"
            files = [f.split("/", 1)[1] for f in files]
        else:
            break
    tops = {f.split("/", 1)[0] for f in files}
    by_split: dict[str, list[str]] = {}
    has_splits = tops <= set(SPLIT_NAMES) and all(f.count("/") >= 2 for f in files)
    if has_splits:
        for f in files:
            s, rest = f.split("/", 1)
            by_split.setdefault(s, []).append(rest)
    else:
        by_split["train"] = files
    class_names = sorted({f.split("/", 1)[0] for fs in by_split.values() for f in fs})
    cls_index = {c: i for i, c in enumerate(class_names)}
    splits: dict[str, tuple[list[str], np.ndarray]] = {}
    for s, fs in by_split.items():
        rel = [(f.split("/", 1)[0], f) for f in fs]
        rel.sort(key=lambda t: (cls_index[t[0]], t[1]))
        split_prefix = prefix + (f"{s}/" if has_splits else "")
        full = [split_prefix + f for _, f in rel]
        labels = np.array([cls_index[c] for c, _ in rel], dtype=np.int64)
        splits[s] = (full, labels)
    return FolderIndex(source, is_zip, splits, class_names)


def _open_image(data: bytes, name: str, mode: str, size: tuple[int, int] | None) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im = im.convert(mode)
            if size is not None and (im.height, im.width) != tuple(size):
                im = im.resize((size[1], size[0]), Image.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataIntegrityError(
            f"{name}: cannot decode image (corrupt or truncated: {exc})"
        ) from exc
    return arr if arr.ndim == 3 else arr[..., None]


def decode_images(
    index: FolderIndex,
    files: Sequence[str],
    *,
    mode: str,
    size: tuple[int, int] | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """Decode ``files`` of ``index`` into ``uint8 [N, H, W, C]`` with a thread pool.

    Args:
        index: where the files are (:func:`index_image_folder`).
        files: paths relative to ``index.source``, in the order of the result.
        mode: Pillow mode every image is converted to: ``"RGB"`` (C = 3) or ``"L"`` (C = 1).
        size: ``(H, W)`` to resize every image to (bilinear); ``None``: all images must have
            the first one's size.
        workers: decoding threads (default ``min(8, cpu_count)``).

    Returns:
        uint8 ``[N, H, W, C]``, row ``i`` from ``files[i]``.

    Raises:
        GencalInputError: no files, or an image whose size differs (without ``size``).
        DataIntegrityError: an image that cannot be decoded (the message names it).

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> tmp = tempfile.TemporaryDirectory()
        >>> (Path(tmp.name) / "cat").mkdir()
        >>> Image.new("RGB", (6, 4), (255, 0, 0)).save(Path(tmp.name) / "cat" / "0.png")
        >>> index = index_image_folder(tmp.name)
        >>> images = decode_images(index, index.splits["train"][0], mode="RGB")
        >>> images.shape, images[0, 0, 0].tolist()
        ((1, 4, 6, 3), [255, 0, 0])
        >>> decode_images(index, index.splits["train"][0], mode="L", size=(2, 2)).shape
        (1, 2, 2, 1)
        >>> tmp.cleanup()
    """
    n = len(files)
    if n == 0:
        raise GencalInputError(f"{index.source}: no images to decode")
    local = threading.local()

    def reader(name: str) -> bytes:
        if index.is_zip:
            zf = getattr(local, "zf", None)
            if zf is None:
                zf = local.zf = zipfile.ZipFile(index.source)
            try:
                return zf.read(name)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
                raise DataIntegrityError(
                    f"{index.source}: member {name} is corrupt ({exc})"
                ) from exc
        return (index.source / name).read_bytes()

    def where(name: str) -> str:
        return f"{index.source}:{name}" if index.is_zip else str(index.source / name)

    first = _open_image(reader(files[0]), where(files[0]), mode, size)
    out = np.empty((n, *first.shape), dtype=np.uint8)
    out[0] = first
    workers = workers or min(8, (os.cpu_count() or 1))
    chunks = [list(range(i, min(n, i + 512))) for i in range(1, n, 512)]

    def work(idx: list[int]) -> None:
        for i in idx:
            arr = _open_image(reader(files[i]), where(files[i]), mode, size)
            if arr.shape != first.shape:
                raise GencalInputError(
                    f"{where(files[i])}: image shape {arr.shape} differs from {first.shape} "
                    f"(of {files[0]}); pass size=(H, W) to resize"
                )
            out[i] = arr

    if workers <= 1 or len(chunks) <= 1:
        for c in chunks:
            work(c)
    else:
        with ThreadPoolExecutor(workers) as pool:
            for fut in [pool.submit(work, c) for c in chunks]:
                fut.result()
    return out


def _detect_mode(index: FolderIndex, first: str) -> str:
    if index.is_zip:
        with zipfile.ZipFile(index.source) as zf:
            data = zf.read(first)
    else:
        data = (index.source / first).read_bytes()
    with Image.open(io.BytesIO(data)) as im:
        return "L" if im.mode in ("L", "1", "I;16", "I", "F") else "RGB"


@register_dataset("image_folder")
def load_image_folder(
    root: Path | None,
    split: str = "train",
    *,
    path: str | os.PathLike[str] | None = None,
    download: bool = False,
    cache_dir: Path | None = None,
    mode: str | None = None,
    size: tuple[int, int] | None = None,
    workers: int | None = None,
    name: str | None = None,
) -> ImageDataset:
    """Load one split of an image tree (``load_dataset("image_folder", path=...)``).

    See the module docstring for the layout. All splits are decoded and cached together on
    first use.

    Args:
        root: unused (accepted like every loader's).
        split: a split folder of the tree (``"train"`` for a tree without split folders).
        path: the directory or ``.zip`` file (required).
        download: unused (nothing to download).
        cache_dir: folder of the decoded-array cache (``None``: no cache).
        mode: ``"RGB"``, ``"L"``, or ``None`` (from the first image).
        size: ``(H, W)`` to resize every image to; needed when sizes differ.
        workers: decoding threads.
        name: the dataset's name (default ``"image_folder"``).

    Returns:
        The :class:`ImageDataset`, normalised with the ``train`` split's mean and std when there
        is one.

    Raises:
        GencalInputError: no ``path``, a bad ``mode``, or no such split in the tree.
        DatasetNotFoundError: ``path`` does not exist or holds no images.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> tmp = tempfile.TemporaryDirectory()
        >>> for i, rel in enumerate(["train/cat/0.png", "train/dog/1.png", "train/dog/2.png",
        ...                          "test/cat/3.png"]):
        ...     (Path(tmp.name) / rel).parent.mkdir(parents=True, exist_ok=True)
        ...     Image.new("L", (5, 5), 60 * i).save(Path(tmp.name) / rel)
        >>> train = load_image_folder(None, "train", path=tmp.name)
        >>> train
        ImageDataset(name='image_folder', split='train', n=3, shape=(5, 5, 1), classes=2)
        >>> train.class_names, train.class_counts.tolist(), train.images[:, 0, 0, 0].tolist()
        (['cat', 'dog'], [1, 2], [0, 60, 120])
        >>> len(load_image_folder(None, "test", path=tmp.name))
        1
        >>> tmp.cleanup()
    """
    if path is None:
        raise GencalInputError("image_folder: pass path=<folder or .zip>")
    source = Path(path).expanduser()
    if not source.exists():
        raise DatasetNotFoundError(f"{source}: no such image folder or zip archive")
    if mode not in (None, "RGB", "L"):
        raise GencalInputError(f"mode: expected 'RGB', 'L' or None, got {mode!r}")
    size_t = tuple(int(s) for s in size) if size is not None else None

    def build() -> dict[str, np.ndarray]:
        index = index_image_folder(source)
        first_split = "train" if "train" in index.splits else sorted(index.splits)[0]
        use_mode = mode or _detect_mode(index, index.splits[first_split][0][0])
        arrays: dict[str, np.ndarray] = {
            "class_names": np.array(index.class_names, dtype=str),
            "splits": np.array(sorted(index.splits), dtype=str),
        }
        for s, (files, labels) in index.splits.items():
            imgs = decode_images(index, files, mode=use_mode, size=size_t, workers=workers)
            mean, std = channel_stats(imgs)
            arrays[f"{s}_images"] = imgs
            arrays[f"{s}_labels"] = labels
            arrays[f"{s}_mean"] = np.array(mean)
            arrays[f"{s}_std"] = np.array(std)
        return arrays

    # The key needs only a stat() of the source, so a cached load never lists or decodes it.
    key = {
        "loader": "image_folder",
        "mode": mode or "auto",
        "size": size_t,
        "src": source_signature([source]),
    }
    label = source.name.removesuffix(".zip")  # same cache for the alias and image_folder
    arrays = cached_arrays(
        cache_dir,
        f"image_folder-{label}",
        key,
        build,
        select=lambda k: not k.endswith(("_images", "_labels")) or k.startswith(f"{split}_"),
    )
    splits = [str(s) for s in arrays["splits"]]
    if split not in splits:
        raise GencalInputError(
            f"image_folder: {source} has no {split!r} split (found {splits}); "
            "a tree without split folders is served as 'train': use stratified_split for more"
        )
    stats = "train" if "train" in splits else split
    return ImageDataset(
        images=arrays[f"{split}_images"],
        labels=arrays[f"{split}_labels"],
        class_names=[str(c) for c in arrays["class_names"]],
        mean=tuple(arrays[f"{stats}_mean"]),
        std=tuple(arrays[f"{stats}_std"]),
        name=name or "image_folder",
        split=split,
    )


def _shared_cifar10_jpeg() -> Path:
    env = os.environ.get("GENCAL_CIFAR10_JPEG")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent.parent / "shared" / "data" / "cifar10-jpeg.zip"
        if cand.is_file():
            return cand
    return Path.cwd().parent / "shared" / "data" / "cifar10-jpeg.zip"


@register_dataset("cifar10_jpeg")
def load_cifar10_jpeg(
    root: Path, split: str = "train", *, path: str | os.PathLike[str] | None = None, **kw
) -> ImageDataset:
    """CIFAR-10 re-encoded as JPEG q75: an :func:`load_image_folder` alias named ``cifar10_jpeg``.

    The zip (``train/`` and ``test/`` of ``<class>/<image>.jpg``) is ``path=`` if given, else
    ``<root>/cifar10-jpeg.zip``, else ``$GENCAL_CIFAR10_JPEG``, else
    ``../shared/data/cifar10-jpeg.zip`` beside the checkout.

    Args:
        root: folder searched for ``cifar10-jpeg.zip``.
        split: ``"train"`` or ``"test"``.
        path: the zip archive.
        **kw: options of :func:`load_image_folder` (``cache_dir``, ``workers``, ...).

    Returns:
        The :class:`ImageDataset`, named ``"cifar10_jpeg"``.

    Raises:
        DatasetNotFoundError: the zip was not found.

    Example:
        A two-image archive in the same layout:

        >>> import io, tempfile, zipfile
        >>> from PIL import Image
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with zipfile.ZipFile(Path(tmp.name) / "cifar10-jpeg.zip", "w") as zf:
        ...     for rel in ["train/cat/0.jpg", "test/dog/1.jpg"]:
        ...         buf = io.BytesIO()
        ...         Image.new("RGB", (32, 32)).save(buf, "JPEG", quality=75)
        ...         zf.writestr(rel, buf.getvalue())
        >>> load_cifar10_jpeg(Path(tmp.name), "test")
        ImageDataset(name='cifar10_jpeg', split='test', n=1, shape=(32, 32, 3), classes=2)
        >>> tmp.cleanup()
    """
    if path is None:
        cand = root / "cifar10-jpeg.zip"
        path = cand if cand.is_file() else _shared_cifar10_jpeg()
    if not Path(path).is_file():
        raise DatasetNotFoundError(
            f"cifar10_jpeg: {path} not found; set $GENCAL_CIFAR10_JPEG or pass path=..."
        )
    return load_image_folder(root, split, path=path, name="cifar10_jpeg", **kw)


forward_signature(load_cifar10_jpeg, load_image_folder, drop=("name",))
