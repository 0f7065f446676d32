"""Atomic file writes: a reader never sees a half-written file, and a crash never leaves one.

Each writer writes to a temporary file in the destination folder, flushes and fsyncs it, then
renames it over the destination with ``os.replace`` (atomic on POSIX and Windows). Every function
takes the destination ``path`` (a ``str`` or path-like; its folder is created if missing), and the
``atomic_write_*`` / ``atomic_save_*`` functions return it as a :class:`~pathlib.Path`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = [
    "atomic_save_npz",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "atomic_writer",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a binary file handle whose contents replace ``path`` atomically on success.

    Writes go to a temporary file in the destination folder (created if missing), which is
    flushed, fsynced and renamed over ``path`` when the ``with`` block ends without an error;
    on an error it is removed and ``path`` is untouched. The file gets the permissions an
    ordinary ``open(path, "wb")`` would give (0666 minus the umask), not ``mkstemp``'s 0600.
    Stream large objects into it (``np.savez(fh, ...)``, ``torch.save(obj, fh)``) so that no
    second copy is held in memory.

    Args:
        path: the destination file; its folder is created if missing.

    Returns:
        A context manager yielding the binary file handle of the temporary file.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> tmp = tempfile.TemporaryDirectory()
        >>> d = Path(tmp.name)
        >>> with atomic_writer(d / "a.bin") as fh:
        ...     _ = fh.write(b"abc")
        >>> (d / "a.bin").read_bytes()
        b'abc'
        >>> try:
        ...     with atomic_writer(d / "a.bin") as fh:
        ...         _ = fh.write(b"half")
        ...         raise RuntimeError("crash")
        ... except RuntimeError:
        ...     pass
        >>> (d / "a.bin").read_bytes(), [p.name for p in d.iterdir()]  # untouched, no temp file
        (b'abc', ['a.bin'])
        >>> tmp.cleanup()
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`).

    Args:
        path: the destination file.
        data: the file's new contents.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     out = atomic_write_bytes(Path(d) / "sub" / "x.bin", b"abc")  # sub/ is created
        ...     out.parent.name, out.name, out.read_bytes()
        ('sub', 'x.bin', b'abc')
    """
    with atomic_writer(path) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` as UTF-8, atomically (see :func:`atomic_writer`).

    Args:
        path: the destination file.
        text: the file's new contents (no newline is added).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     size = atomic_write_text(Path(d) / "note.txt", "café").stat().st_size
        >>> size  # é is two bytes in UTF-8
        5
    """
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON atomically, keys sorted (equal objects give equal files).

    Args:
        path: the destination file.
        obj: anything :func:`json.dumps` accepts.
        indent: as in :func:`json.dumps` (``None``: one line); a newline ends the file.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     out = atomic_write_json(Path(d) / "m.json", {"b": 1, "a": [2]}, indent=None)
        ...     print(out.read_text(), end="")
        {"a": [2], "b": 1}
    """
    return atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=True) + "\n")


def atomic_save_npz(
    path: str | os.PathLike[str], *, compressed: bool = True, **arrays: np.ndarray
) -> Path:
    """Save arrays to an ``.npz`` file atomically (compressed by default).

    The archive is built in memory, then written with :func:`atomic_write_bytes`; for arrays too
    large to hold twice, stream ``np.savez`` into :func:`atomic_writer` instead.

    Args:
        path: the destination file (give it the ``.npz`` suffix yourself: none is added).
        compressed: ``np.savez_compressed`` (default) or ``np.savez``.
        **arrays: the arrays, by name.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     with np.load(atomic_save_npz(Path(d) / "a.npz", x=np.arange(3), y=np.eye(2))) as z:
        ...         sorted(z.files), z["x"].tolist()
        (['x', 'y'], [0, 1, 2])
    """
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())
