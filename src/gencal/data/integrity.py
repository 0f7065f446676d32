"""Checksums and the errors raised for missing, corrupt or truncated data files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from gencal._checks import GencalInputError

__all__ = [
    "DataIntegrityError",
    "DatasetNotFoundError",
    "bytes_digest",
    "file_digest",
    "verify_bytes",
    "verify_file",
]

_CHUNK = 1 << 20


class DataIntegrityError(GencalInputError):
    """A data file is corrupt or truncated: its checksum or its structure is wrong."""


class DatasetNotFoundError(FileNotFoundError):
    """The files of a dataset are not where they were looked for (and ``download=False``)."""


def file_digest(path: str | os.PathLike[str], algorithm: str = "md5") -> str:
    """Hex digest of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def bytes_digest(data: bytes, algorithm: str = "md5") -> str:
    h = hashlib.new(algorithm)
    h.update(data)
    return h.hexdigest()


def _expected(md5: str | None, sha256: str | None) -> tuple[str, str] | None:
    if sha256:
        return "sha256", sha256.lower()
    if md5:
        return "md5", md5.lower()
    return None


def _check_digest(what: str, algo: str, want: str, got: str, size: int) -> None:
    if got != want:
        raise DataIntegrityError(
            f"{what}: {algo} checksum mismatch (expected {want}, got {got}, {size} bytes); "
            "the file is corrupt or truncated: delete it and download it again"
        )


def verify_file(
    path: str | os.PathLike[str], *, md5: str | None = None, sha256: str | None = None
) -> None:
    """Raise :class:`DataIntegrityError` naming ``path`` if its checksum is not the expected one.

    SHA-256 is used when given, else MD5; with neither, only existence is checked.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: file not found")
    exp = _expected(md5, sha256)
    if exp is None:
        return
    algo, want = exp
    _check_digest(str(path), algo, want, file_digest(path, algo), path.stat().st_size)


def verify_bytes(
    data: bytes, what: str, *, md5: str | None = None, sha256: str | None = None
) -> None:
    """Like :func:`verify_file` for bytes already in memory (``what`` names them in the error)."""
    exp = _expected(md5, sha256)
    if exp is None:
        return
    algo, want = exp
    _check_digest(what, algo, want, bytes_digest(data, algo), len(data))
