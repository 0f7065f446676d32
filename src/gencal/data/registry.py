"""Dataset registry: ``load_dataset(name, root=None, split="train", **kw)``."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gencal._checks import GencalInputError
from gencal.data.cache import default_root
from gencal.data.dataset import ImageDataset

__all__ = ["list_datasets", "load_dataset", "register_dataset"]

Loader = Callable[..., ImageDataset]
_REGISTRY: dict[str, Loader] = {}
_PREFIX: dict[str, Loader] = {}


def register_dataset(name: str, *, prefix: bool = False) -> Callable[[Loader], Loader]:
    """Register a loader ``fn(root: Path, split: str, *, download, cache_dir, **kw)``.

    With ``prefix=True`` the loader serves every name ``"<name>/<flag>"`` and receives
    ``flag=...`` (used by ``medmnist/<flag>``). Registering a name again replaces its loader.

    Args:
        name: the dataset's name for :func:`load_dataset` (lower-case).
        prefix: register a family of names ``"<name>/<flag>"``.

    Returns:
        A decorator that registers the loader and returns it unchanged.

    Example:
        >>> import numpy as np
        >>> @register_dataset("blank")
        ... def load_blank(root, split, *, download=False, cache_dir=None, n=4):
        ...     return ImageDataset(np.zeros((n, 2, 2, 1), np.uint8), np.zeros(n, np.int64),
        ...                         ["only"], (0.0,), (1.0,), "blank", split)
        >>> load_dataset("blank", split="test", n=3)
        ImageDataset(name='blank', split='test', n=3, shape=(2, 2, 1), classes=1)
        >>> _ = _REGISTRY.pop("blank")  # keep the registry as it was
    """

    def deco(fn: Loader) -> Loader:
        (_PREFIX if prefix else _REGISTRY)[name] = fn
        return fn

    return deco


def forward_signature(wrapper: Loader, target: Callable, drop: tuple[str, ...] = ("spec",)) -> None:
    """Give a thin ``**kw`` wrapper its target's signature (so unknown options are reported).

    Args:
        wrapper: the registered loader, changed in place (its ``__signature__``).
        target: the function it calls.
        drop: parameters of ``target`` that the wrapper supplies itself.

    Example:
        >>> import inspect
        >>> def target(spec, root, split, *, download=False): ...
        >>> def wrapper(root, split, **kw): ...
        >>> forward_signature(wrapper, target)
        >>> str(inspect.signature(wrapper))
        '(root, split, *, download=False)'
    """
    sig = inspect.signature(target)
    wrapper.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=[p for p in sig.parameters.values() if p.name not in drop]
    )


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset` (prefix families as ``"medmnist/<flag>"``).

    Returns:
        The names, sorted.

    Example:
        >>> names = list_datasets()
        >>> names[:3], "medmnist/pathmnist" in names, len(names)
        (['cifar10', 'cifar100', 'cifar10_jpeg'], True, 19)
    """
    names = list(_REGISTRY)
    for family, fn in _PREFIX.items():
        names += [f"{family}/{flag}" for flag in getattr(fn, "flags", ())]
    return sorted(names)


def load_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    *,
    download: bool = False,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> ImageDataset:
    """Load one split of a dataset as an :class:`ImageDataset`.

    Args:
        name: ``cifar10 cifar100 tiny_imagenet medmnist/<flag> fashion_mnist mnist digits
            image_folder cifar10_jpeg`` (see :func:`list_datasets`).
        root: folder holding the raw files (default ``$GENCAL_DATA`` or ``~/.cache/gencal/data``).
        split: ``"train"``, ``"test"``, or ``"val"`` where the dataset has one.
        download: fetch missing raw files from the official URLs (checksum-verified).
        cache: keep the decoded arrays in ``cache_dir`` (default ``<root>/cache``).
        cache_dir: folder of the decoded-array cache.
        **kwargs: loader options, e.g. ``label_mode="coarse"`` (cifar100), ``size=64`` (medmnist),
            ``path=...`` (image_folder).

    Returns:
        The :class:`ImageDataset`.

    Raises:
        GencalInputError: an unknown name, split or option (the message lists the accepted
            ones).
        DatasetNotFoundError: the raw files are missing and ``download=False``.
        DataIntegrityError: a raw file is corrupt or truncated.

    Example:
        >>> test = load_dataset("digits", split="test")
        >>> test, test.class_counts.tolist()[:3]
        (ImageDataset(name='digits', split='test', n=451, shape=(8, 8, 1), classes=10), [45, 46, 44])
        >>> load_dataset("digits", size=64)
        Traceback (most recent call last):
        ...
        gencal._checks.GencalInputError: digits: unknown option(s) ['size']; accepted: ['cache_dir', 'download', 'seed', 'test_fraction']
    """
    root_path = Path(root).expanduser() if root is not None else default_root()
    if cache:
        cdir: Path | None = Path(cache_dir) if cache_dir is not None else root_path / "cache"
    else:
        cdir = None
    key = name.lower()
    if key in _REGISTRY:
        fn = _REGISTRY[key]
    elif "/" in key and key.split("/", 1)[0] in _PREFIX:
        family, flag = key.split("/", 1)
        fn = _PREFIX[family]
        kwargs["flag"] = flag
    else:
        raise GencalInputError(f"unknown dataset {name!r}; available: {', '.join(list_datasets())}")
    if split not in ("train", "val", "test"):
        raise GencalInputError(f"split: expected 'train', 'val' or 'test', got {split!r}")
    params = inspect.signature(fn).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            options = sorted(k for k in params if k not in ("root", "split", "flag"))
            raise GencalInputError(f"{name}: unknown option(s) {unknown}; accepted: {options}")
    return fn(root_path, split, download=download, cache_dir=cdir, **kwargs)
