"""Cache of decoded arrays: decode once, then load the ``.npz`` (uncompressed: loading is a read).

The cache file name carries a hash of a *source key*: the resolved source path, its size and
modification time (or those of every file in a folder), the loader's options and
:data:`CACHE_VERSION`. A changed source gives a new key, so a stale cache is never used. Files are
written atomically (temporary file + ``os.replace``); a cache file that cannot be read is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from gencal.io import atomic_writer

__all__ = ["CACHE_VERSION", "cached_arrays", "default_root", "source_signature"]

CACHE_VERSION = 2


def default_root() -> Path:
    """The default folder of raw data files: ``$GENCAL_DATA`` if set, else ``~/.cache/gencal/data``.

    Returns:
        The folder (``~`` expanded); it is not created.

    Example:
        >>> import os
        >>> old = os.environ.pop("GENCAL_DATA", None)
        >>> default_root() == Path.home() / ".cache" / "gencal" / "data"
        True
        >>> os.environ["GENCAL_DATA"] = "/srv/data"
        >>> default_root()
        PosixPath('/srv/data')
        >>> _ = os.environ.pop("GENCAL_DATA")
        >>> if old is not None:
        ...     os.environ["GENCAL_DATA"] = old
    """
    env = os.environ.get("GENCAL_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gencal" / "data"


def source_signature(paths: Iterable[str | os.PathLike[str]]) -> list[list[Any]]:
    """What identifies the sources of a cache entry: path, size and modification time.

    Args:
        paths: files or folders (resolved to absolute paths).

    Returns:
        One entry per path: ``[path, size, mtime_ns]`` for a file,
        ``[path, "dir", number of files, sha256 of their sorted (relative path, size, mtime_ns)]``
        for a folder.

    Example:
        >>> import tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> f = Path(tmp.name) / "a.bin"
        >>> _ = f.write_bytes(b"abc")
        >>> source_signature([f])[0][1], source_signature([tmp.name])[0][1:3]
        (3, ['dir', 1])
        >>> tmp.cleanup()
    """
    sig: list[list[Any]] = []
    for p in paths:
        p = Path(p).resolve()
        if p.is_dir():
            entries = []
            for dirpath, _dirs, files in os.walk(p):
                for f in files:
                    st = os.stat(os.path.join(dirpath, f))
                    rel = os.path.relpath(os.path.join(dirpath, f), p)
                    entries.append((rel, st.st_size, st.st_mtime_ns))
            entries.sort()
            h = hashlib.sha256(json.dumps(entries).encode()).hexdigest()
            sig.append([str(p), "dir", len(entries), h])
        else:
            st = p.stat()
            sig.append([str(p), st.st_size, st.st_mtime_ns])
    return sig


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Uncompressed ``.npz`` streamed to a temporary file in the same folder, then renamed.

    (Unlike ``gencal.io.atomic_save_npz`` it never holds a second copy of the arrays in memory,
    which matters for Tiny-ImageNet's 1.2 GB.)
    """
    with atomic_writer(path) as fh:
        np.savez(fh, **arrays)


def cache_path(cache_dir: Path, name: str, key: dict[str, Any]) -> Path:
    """The cache file ``<cache_dir>/<name>-<hash>.npz`` of ``key``.

    The hash is the first 20 hex digits of the SHA-256 of ``key`` and :data:`CACHE_VERSION` as
    sorted JSON; characters of ``name`` other than letters, digits, ``-_.`` become ``_``.

    Args:
        cache_dir: the cache folder.
        name: a readable prefix (e.g. the dataset's name).
        key: what the cached arrays depend on (JSON-serialisable; other values via ``str``).

    Returns:
        The path (nothing is created).

    Example:
        >>> p = cache_path(Path("/c"), "medmnist/path", {"size": 28})
        >>> p.parent, p.name[:14], len(p.name)
        (PosixPath('/c'), 'medmnist_path-', 38)
        >>> p == cache_path(Path("/c"), "medmnist/path", {"size": 28})
        True
        >>> p == cache_path(Path("/c"), "medmnist/path", {"size": 64})
        False
    """
    payload = json.dumps({"v": CACHE_VERSION, **key}, sort_keys=True, default=str)
    digest = hashlib.sha256(payload.encode()).hexdigest()[:20]
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return Path(cache_dir) / f"{safe}-{digest}.npz"


def cached_arrays(
    cache_dir: str | os.PathLike[str] | None,
    name: str,
    key: dict[str, Any],
    build: Callable[[], dict[str, np.ndarray]],
    *,
    select: Callable[[str], bool] | None = None,
) -> dict[str, np.ndarray]:
    """Return ``build()``'s arrays, from ``<cache_dir>/<name>-<hash(key)>.npz`` when present.

    On a miss (or an unreadable cache file) ``build()`` runs and all its arrays are written
    atomically to the cache file (:func:`cache_path`).

    Args:
        cache_dir: the cache folder; ``None`` disables the cache (always builds).
        name: a readable prefix of the cache file's name.
        key: what the arrays depend on; include :func:`source_signature` of the sources.
        build: makes the arrays. They must not be object arrays (store strings as
            fixed-width unicode).
        select: ``select(array name)`` limits which arrays are read and returned, e.g. one
            split's.

    Returns:
        ``{array name: array}``.

    Example:
        >>> import tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> calls = []
        >>> def build():
        ...     calls.append(1)
        ...     return {"train_x": np.arange(3), "test_x": np.arange(2)}
        >>> a = cached_arrays(tmp.name, "toy", {"v": 1}, build)
        >>> is_test = lambda k: k.startswith("test")
        >>> b = cached_arrays(tmp.name, "toy", {"v": 1}, build, select=is_test)
        >>> len(calls), sorted(b), b["test_x"].tolist()  # the second call read the cache
        (1, ['test_x'], [0, 1])
        >>> _ = cached_arrays(tmp.name, "toy", {"v": 2}, build)  # a new key builds again
        >>> len(calls)
        2
        >>> tmp.cleanup()
    """
    keep = select or (lambda _k: True)
    if cache_dir is None:
        return {k: v for k, v in build().items() if keep(k)}
    path = cache_path(Path(cache_dir), name, key)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files if keep(k)}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError):
            pass  # unreadable cache: rebuild below
    arrays = build()
    _atomic_savez(path, arrays)
    return {k: v for k, v in arrays.items() if keep(k)}
