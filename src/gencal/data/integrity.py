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
    """A data file is corrupt or truncated: its checksum or its structure is wrong.

    A :class:`~gencal._checks.GencalInputError`, hence a ``ValueError``.

    Example:
        >>> try:
        ...     verify_bytes(b"abc", "blob", md5="0" * 32)
        ... except ValueError as exc:
        ...     print(type(exc).__name__, "|", exc)
        DataIntegrityError | blob: md5 checksum mismatch (expected 00000000000000000000000000000000, got 900150983cd24fb0d6963f7d28e17f72, 3 bytes); the file is corrupt or truncated: delete it and download it again
    """


class DatasetNotFoundError(FileNotFoundError):
    """The files of a dataset are not where they were looked for (and ``download=False``).

    A ``FileNotFoundError``; the message says where the files were looked for.

    Example:
        >>> try:
        ...     verify_file("/nonexistent/cifar-10-python.tar.gz")
        ... except FileNotFoundError as exc:
        ...     print(type(exc).__name__, "|", exc)
        DatasetNotFoundError | /nonexistent/cifar-10-python.tar.gz: file not found
    """


def file_digest(path: str | os.PathLike[str], algorithm: str = "md5") -> str:
    """Hex digest of a file's bytes (read in 1 MiB chunks).

    Args:
        path: the file.
        algorithm: a :func:`hashlib.new` name (``"md5"``, ``"sha256"``, ...).

    Returns:
        The lower-case hex digest.

    Example:
        >>> import tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> f = Path(tmp.name) / "abc.txt"
        >>> _ = f.write_bytes(b"abc")
        >>> file_digest(f), file_digest(f, "sha256")[:16]
        ('900150983cd24fb0d6963f7d28e17f72', 'ba7816bf8f01cfea')
        >>> tmp.cleanup()
    """
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def bytes_digest(data: bytes, algorithm: str = "md5") -> str:
    """Hex digest of bytes in memory (as :func:`file_digest` for a file).

    Args:
        data: the bytes.
        algorithm: a :func:`hashlib.new` name (``"md5"``, ``"sha256"``, ...).

    Returns:
        The lower-case hex digest.

    Example:
        >>> bytes_digest(b"abc")
        '900150983cd24fb0d6963f7d28e17f72'
    """
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

    Args:
        path: the file.
        md5: expected MD5, hex (any case).
        sha256: expected SHA-256, hex (any case).

    Raises:
        DatasetNotFoundError: ``path`` is not a file.
        DataIntegrityError: the digest differs (the message gives both digests and the size).

    Example:
        >>> import tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> f = Path(tmp.name) / "abc.txt"
        >>> _ = f.write_bytes(b"abc")
        >>> verify_file(f, md5="900150983CD24FB0D6963F7D28E17F72")  # passes: returns None
        >>> verify_file(f, md5="0" * 32)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        gencal.data.integrity.DataIntegrityError: .../abc.txt: md5 checksum mismatch (expected 000..., got 900150983cd24fb0d6963f7d28e17f72, 3 bytes); ...
        >>> tmp.cleanup()
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
    """Like :func:`verify_file` for bytes already in memory (``what`` names them in the error).

    Args:
        data: the bytes.
        what: names the bytes in the error (e.g. ``"<archive>:<member>"``).
        md5: expected MD5, hex (any case).
        sha256: expected SHA-256, hex (any case); used instead of ``md5`` when given.

    Raises:
        DataIntegrityError: the digest differs.

    Example:
        >>> md5 = "900150983cd24fb0d6963f7d28e17f72"  # of b"abc"
        >>> verify_bytes(b"abc", "blob", md5=md5)  # passes: returns None
        >>> verify_bytes(b"abd", "archive.tar:meta", md5=md5)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        gencal.data.integrity.DataIntegrityError: archive.tar:meta: md5 checksum mismatch ...
    """
    exp = _expected(md5, sha256)
    if exp is None:
        return
    algo, want = exp
    _check_digest(what, algo, want, bytes_digest(data, algo), len(data))
