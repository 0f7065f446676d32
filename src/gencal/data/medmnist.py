"""MedMNIST v2/v3 2D datasets from the official ``.npz`` files (Zenodo record 10519652).

Each file ``<flag>.npz`` (28x28) or ``<flag>_<size>.npz`` (64, 128, 224) holds
``train_images, train_labels, val_images, val_labels, test_images, test_labels``; images are
uint8 ``[N, H, W]`` (grayscale) or ``[N, H, W, 3]``, labels ``[N, 1]``. URLs, MD5s, class names and
split sizes below are those of MedMNIST's ``INFO`` table (medmnist 3.0.2). Only the single-label
2D tasks are included (ChestMNIST is multi-label). Splits: ``train``, ``val``, ``test``, as
published. Normalisation constants are computed from the training split.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from gencal._checks import GencalInputError
from gencal.data.cache import cached_arrays, source_signature
from gencal.data.dataset import ImageDataset, add_split_arrays, dataset_from_arrays, only_split
from gencal.data.download import download_url
from gencal.data.integrity import DataIntegrityError, DatasetNotFoundError, verify_file
from gencal.data.registry import register_dataset

__all__ = ["MEDMNIST_INFO", "medmnist_url"]

_ZENODO = "https://zenodo.org/records/10519652/files/"
_ORGANS = [
    "bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right",
    "liver", "lung-left", "lung-right", "pancreas", "spleen",
]  # fmt: skip

# flag -> (md5 per size, class names, channels, (n_train, n_val, n_test))
MEDMNIST_INFO: dict[str, dict] = {
    "pathmnist": {
        "md5": {28: "a8b06965200029087d5bd730944a56c1", 64: "55aa9c1e0525abe5a6b9d8343a507616",
                128: "ac42d08fb904d92c244187169d1fd1d9", 224: "2c51a510bcdc9cf8ddb2af93af1eadec"},
        "labels": ["adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
                   "normal colon mucosa", "cancer-associated stroma",
                   "colorectal adenocarcinoma epithelium"],
        "channels": 3, "n": (89996, 10004, 7180),
    },
    "dermamnist": {
        "md5": {28: "0744692d530f8e62ec473284d019b0c7", 64: "b70a2f5635c6199aeaa28c31d7202e1f",
                128: "2defd784463fa5243564e855ed717de1", 224: "8974907d8e169bef5f5b96bc506ae45d"},
        "labels": ["actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
                   "benign keratosis-like lesions", "dermatofibroma", "melanoma",
                   "melanocytic nevi", "vascular lesions"],
        "channels": 3, "n": (7007, 1003, 2005),
    },
    "octmnist": {
        "md5": {28: "c68d92d5b585d8d81f7112f81e2d0842", 64: "e229e9440236b774d9f0dfef9d07bdaf",
                128: "0a97e76651ace45c5d943ee3f65b63ae", 224: "abc493b6d529d5de7569faaef2773ba3"},
        "labels": ["choroidal neovascularization", "diabetic macular edema", "drusen", "normal"],
        "channels": 1, "n": (97477, 10832, 1000),
    },
    "pneumoniamnist": {
        "md5": {28: "28209eda62fecd6e6a2d98b1501bb15f", 64: "8f4eceb4ccffa70c672198ea285246c6",
                128: "05b46931834c231683c68f40c47b2971", 224: "d6a3c71de1b945ea11211b03746c1fe1"},
        "labels": ["normal", "pneumonia"], "channels": 1, "n": (4708, 524, 624),
    },
    "retinamnist": {
        "md5": {28: "bd4c0672f1bba3e3a89f0e4e876791e4", 64: "afda852cc34dcda56f86ad2b2457dbcc",
                128: "e48e916a24454daf90583d4e6efb1a18", 224: "eae7e3b6f3fcbda4ae613ebdcbe35348"},
        "labels": ["0", "1", "2", "3", "4"], "channels": 3, "n": (1080, 120, 400),
    },
    "breastmnist": {
        "md5": {28: "750601b1f35ba3300ea97c75c52ff8f6", 64: "742edef2a1fd1524b2efff4bd7ba9364",
                128: "363e4b3f8d712e9b5de15470a2aaadf1", 224: "b56378a6eefa9fed602bb16d192d4c8b"},
        "labels": ["malignant", "normal, benign"], "channels": 1, "n": (546, 78, 156),
    },
    "bloodmnist": {
        "md5": {28: "7053d0359d879ad8a5505303e11de1dc", 64: "2b94928a2ae4916078ca51e05b6b800b",
                128: "adace1e0ed228fccda1f39692059dd4c", 224: "b718ff6835fcbdb22ba9eacccd7b2601"},
        "labels": ["basophil", "eosinophil", "erythroblast",
                   "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)",
                   "lymphocyte", "monocyte", "neutrophil", "platelet"],
        "channels": 3, "n": (11959, 1712, 3421),
    },
    "tissuemnist": {
        "md5": {28: "ebe78ee8b05294063de985d821c1c34b", 64: "123ece2eba09d0aa5d698fda57103344",
                128: "61b955355d7425a89687b06cca3ce0c2", 224: "b077128c4a949f0a4eb01517f9037b9c"},
        "labels": ["Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule",
                   "Glomerular endothelial cells", "Interstitial endothelial cells", "Leukocytes",
                   "Podocytes", "Proximal Tubule Segments", "Thick Ascending Limb"],
        "channels": 1, "n": (165466, 23640, 47280),
    },
    "organamnist": {
        "md5": {28: "68e3f8846a6bd62f0c9bf841c0d9eacc", 64: "2dcccc29b88e6da5a01161ef20cda288",
                128: "eeae80d0a227a8d099027e1b3cfd3b60", 224: "50747347e05c87dd3aaf92c49f9f3170"},
        "labels": _ORGANS, "channels": 1, "n": (34561, 6491, 17778),
    },
    "organcmnist": {
        "md5": {28: "b9ceb9546e10131b32923c5bbeaea2b1", 64: "3ce34a8724ea6f548e6db4744d03b6a9",
                128: "773c1f009daa3fe5d9a2a201b2a7ed94", 224: "050f5e875dc056f6768abf94ec9995d1"},
        "labels": _ORGANS, "channels": 1, "n": (12975, 2392, 8216),
    },
    "organsmnist": {
        "md5": {28: "9ab87b696fb54e2a387ebe992d6ed5f1", 64: "53a6d115339d874c25e309a994ff46d3",
                128: "ded0c5fa01a95dc4978b956f613e9b8e", 224: "b354719e553fbbb2513d5533f52a4cb1"},
        "labels": _ORGANS, "channels": 1, "n": (13932, 2452, 8827),
    },
}  # fmt: skip


def medmnist_filename(flag: str, size: int) -> str:
    """Name of the official file of ``flag`` at ``size``: ``<flag>.npz`` or ``<flag>_<size>.npz``.

    Args:
        flag: a key of :data:`MEDMNIST_INFO`, e.g. ``"pathmnist"``.
        size: 28, 64, 128 or 224.

    Example:
        >>> medmnist_filename("pathmnist", 28), medmnist_filename("pathmnist", 64)
        ('pathmnist.npz', 'pathmnist_64.npz')
    """
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


def medmnist_url(flag: str, size: int = 28) -> str:
    """The official download URL (Zenodo record 10519652) of ``flag`` at ``size``.

    Args:
        flag: a key of :data:`MEDMNIST_INFO`, e.g. ``"pathmnist"``.
        size: 28, 64, 128 or 224.

    Example:
        >>> medmnist_url("bloodmnist", 64)
        'https://zenodo.org/records/10519652/files/bloodmnist_64.npz?download=1'
    """
    return f"{_ZENODO}{medmnist_filename(flag, size)}?download=1"


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DataIntegrityError(f"{path}: truncated or corrupt .npz ({exc})") from exc


@register_dataset("medmnist", prefix=True)
def load_medmnist(
    root: Path,
    split: str = "train",
    *,
    flag: str,
    size: int = 28,
    download: bool = False,
    cache_dir: Path | None = None,
    verify: bool = True,
    opener=None,
) -> ImageDataset:
    """Load ``medmnist/<flag>`` at ``size`` 28, 64, 128 or 224 (``load_dataset`` calls it).

    The file :func:`medmnist_filename` is looked up in ``<root>/medmnist/``, then ``<root>/``.

    Args:
        root: the data folder.
        split: ``"train"``, ``"val"`` or ``"test"``, as published.
        flag: a key of :data:`MEDMNIST_INFO` (given by ``load_dataset`` from the name).
        size: image side, 28, 64, 128 or 224.
        download: fetch the file from :func:`medmnist_url` when it is missing.
        cache_dir: folder of the decoded-array cache (``None``: no cache).
        verify: check the file's MD5 against MedMNIST's before decoding it.
        opener: replaces :func:`urllib.request.urlopen` for the download (tests).

    Returns:
        The :class:`ImageDataset` (uint8 ``[N, size, size, C]``), normalised with the training
        split's mean and std.

    Raises:
        GencalInputError: an unknown flag or size.
        DatasetNotFoundError: the file is missing and ``download=False``.
        DataIntegrityError: a checksum mismatch, missing keys, wrong shapes or multi-label data.

    Example:
        A tiny file in the official format (``verify=False``: it is not the published file):

        >>> import tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> root = Path(tmp.name)
        >>> (root / "medmnist").mkdir()
        >>> arrays = {}
        >>> for s, n in [("train", 4), ("val", 2), ("test", 3)]:
        ...     arrays[f"{s}_images"] = np.zeros((n, 28, 28), np.uint8)  # grayscale [N, H, W]
        ...     arrays[f"{s}_labels"] = (np.arange(n) % 2).reshape(n, 1)  # [N, 1]
        >>> np.savez(root / "medmnist" / "breastmnist.npz", **arrays)
        >>> val = load_medmnist(root, "val", flag="breastmnist", verify=False)
        >>> val
        ImageDataset(name='medmnist/breastmnist', split='val', n=2, shape=(28, 28, 1), classes=2)
        >>> val.class_names
        ['malignant', 'normal, benign']
        >>> tmp.cleanup()
    """
    if flag not in MEDMNIST_INFO:
        raise GencalInputError(
            f"medmnist: unknown flag {flag!r}; available: {', '.join(MEDMNIST_INFO)}"
        )
    info = MEDMNIST_INFO[flag]
    if size not in info["md5"]:
        raise GencalInputError(f"medmnist: size must be one of {sorted(info['md5'])}, got {size}")
    fname = medmnist_filename(flag, size)
    path = next((p for p in (root / "medmnist" / fname, root / fname) if p.is_file()), None)
    if path is None:
        if not download:
            raise DatasetNotFoundError(
                f"medmnist/{flag}: {root / 'medmnist' / fname} not found; pass download=True"
            )
        path = download_url(
            medmnist_url(flag, size),
            root / "medmnist" / fname,
            md5=info["md5"][size],
            opener=opener,
        )

    def build() -> dict[str, np.ndarray]:
        if verify:
            verify_file(path, md5=info["md5"][size])
        raw = _load_npz(path)
        arrays: dict[str, np.ndarray] = {}
        for s in ("train", "val", "test"):
            if f"{s}_images" not in raw or f"{s}_labels" not in raw:
                raise DataIntegrityError(f"{path}: keys {s}_images/{s}_labels missing")
            imgs = raw[f"{s}_images"]
            if imgs.ndim == 3:
                imgs = imgs[..., None]
            if imgs.dtype != np.uint8 or imgs.ndim != 4 or imgs.shape[1:3] != (size, size):
                raise DataIntegrityError(
                    f"{path}: {s}_images has {imgs.dtype} {imgs.shape}, expected uint8 "
                    f"[N, {size}, {size}(, C)]"
                )
            labels = raw[f"{s}_labels"].reshape(len(imgs), -1)
            if labels.shape[1] != 1:
                raise DataIntegrityError(f"{path}: {s}_labels is multi-label {labels.shape}")
            add_split_arrays(arrays, s, np.ascontiguousarray(imgs), labels[:, 0])
        return arrays

    key = {"loader": "medmnist", "flag": flag, "size": size, "src": source_signature([path])}
    arrays = cached_arrays(
        cache_dir, f"medmnist-{flag}-{size}", key, build, select=only_split(split)
    )
    return dataset_from_arrays(arrays, split, info["labels"], f"medmnist/{flag}")


load_medmnist.flags = tuple(MEDMNIST_INFO)  # type: ignore[attr-defined]
