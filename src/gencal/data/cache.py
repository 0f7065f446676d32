"""Cache of decoded arrays: decode once, then load the ``.npz`` (uncompressed, fast).

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
    """``$GENCAL_DATA`` if set, else ``~/.cache/gencal/data``."""
    env = os.environ.get("GENCAL_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gencal" / "data"


def source_signature(paths: Iterable[str | os.PathLike[str]]) -> list[list[Any]]:
    """``[path, size, mtime_ns]`` of each file (folders: of every file below them, sorted)."""
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

    ``cache_dir=None`` disables the cache (always builds). Arrays must not be object arrays
    (strings are stored as fixed-width unicode). ``select(key)`` limits which arrays are read
    (and returned), e.g. only one split's.
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
