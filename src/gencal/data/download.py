"""Downloading files: resumable, checksum-verified, never half-used.

A download goes to ``<dest>.part``. If a ``.part`` file is already there, the request asks for the
rest of it (HTTP ``Range``); a server that answers ``206 Partial Content`` is appended to, any other
answer restarts the file. Only when the whole file is there and its checksum matches is it renamed
to ``dest`` with ``os.replace`` (atomic), so ``dest`` is either absent or complete and verified.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gencal.data.integrity import DataIntegrityError, file_digest, verify_file

__all__ = ["download_url"]

Opener = Callable[..., Any]


def _status(resp: Any) -> int | None:
    status = getattr(resp, "status", None)
    if status is None and hasattr(resp, "getcode"):
        status = resp.getcode()
    return status


def download_url(
    url: str | Sequence[str],
    dest: str | os.PathLike[str],
    *,
    md5: str | None = None,
    sha256: str | None = None,
    opener: Opener | None = None,
    timeout: float = 60.0,
    chunk_size: int = 1 << 20,
    progress: bool = False,
) -> Path:
    """Download ``url`` (or the first of several mirrors that works) to ``dest`` and verify it.

    If ``dest`` already exists with the right checksum nothing is downloaded (a corrupt copy is
    deleted and fetched again). A download cut short keeps its ``.part`` file so that the next
    call resumes it (see the module docstring).

    Args:
        url: one URL, or mirrors tried in order (a network error moves to the next one).
        dest: the destination file; its folder is created.
        md5: expected MD5 (hex) of the whole file.
        sha256: expected SHA-256 (hex); used instead of ``md5`` when given. With neither,
            nothing is verified.
        opener: ``opener(request, timeout=...)`` returning a response; default
            :func:`urllib.request.urlopen` (tests pass a fake).
        timeout: seconds, passed to ``opener``.
        chunk_size: bytes read at a time.
        progress: print the bytes received so far.

    Returns:
        ``dest`` as a :class:`~pathlib.Path`.

    Raises:
        DataIntegrityError: the downloaded bytes have the wrong checksum (the message names the
            file, the expected and the actual digest); the bad ``.part`` file is deleted.
        OSError: every mirror failed (each error is listed).
        ValueError: no URL given.

    Example:
        A ``file://`` URL stands in for a server here:

        >>> import tempfile
        >>> from gencal.data.integrity import file_digest
        >>> tmp = tempfile.TemporaryDirectory()
        >>> src = Path(tmp.name) / "remote.bin"
        >>> _ = src.write_bytes(b"payload")
        >>> dest = Path(tmp.name) / "data" / "x.bin"
        >>> out = download_url(src.as_uri(), dest, md5=file_digest(src))
        >>> out.read_bytes(), out.with_name("x.bin.part").exists()
        (b'payload', False)
        >>> download_url(src.as_uri(), Path(tmp.name) / "y.bin", md5="0" * 32)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        gencal.data.integrity.DataIntegrityError: .../y.bin (downloaded from file://...): md5 checksum mismatch (expected 000..., got 321c3cf486ed509164edec1e1981fec8, 7 bytes); the partial file was deleted
        >>> tmp.cleanup()
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file():
        try:
            verify_file(dest, md5=md5, sha256=sha256)
            return dest
        except DataIntegrityError:
            os.unlink(dest)  # a corrupt copy: fetch it again
    urls = [url] if isinstance(url, str) else list(url)
    if not urls:
        raise ValueError("download_url: no URL given")
    errors: list[str] = []
    for u in urls:
        try:
            _fetch(u, dest, opener or urllib.request.urlopen, timeout, chunk_size, progress)
        except DataIntegrityError:
            raise
        except OSError as exc:  # network errors; try the next mirror
            errors.append(f"{u}: {exc}")
            continue
        part = _part(dest)
        algo, want = ("sha256", sha256) if sha256 else ("md5", md5)
        if want:
            got = file_digest(part, algo)
            if got != want.lower():
                size = part.stat().st_size
                os.unlink(part)
                raise DataIntegrityError(
                    f"{dest} (downloaded from {u}): {algo} checksum mismatch (expected "
                    f"{want.lower()}, got {got}, {size} bytes); the partial file was deleted"
                )
        os.replace(part, dest)
        return dest
    raise OSError("download failed from every mirror:\n  " + "\n  ".join(errors))


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _fetch(
    url: str, dest: Path, opener: Opener, timeout: float, chunk_size: int, progress: bool
) -> None:
    part = _part(dest)
    have = part.stat().st_size if part.is_file() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "gencal"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    with opener(req, timeout=timeout) as resp:
        resumed = have > 0 and _status(resp) == 206
        length = resp.headers.get("Content-Length") if getattr(resp, "headers", None) else None
        expected_total = (int(length) + (have if resumed else 0)) if length else None
        written = have if resumed else 0
        with open(part, "ab" if resumed else "wb") as fh:
            while chunk := resp.read(chunk_size):
                fh.write(chunk)
                written += len(chunk)
                if progress:
                    total = f"/{expected_total}" if expected_total else ""
                    print(f"\r{dest.name}: {written}{total} bytes", end="", flush=True)
            fh.flush()
            os.fsync(fh.fileno())
        if progress:
            print()
    if expected_total is not None and written < expected_total:
        raise OSError(
            f"{url}: connection closed after {written} of {expected_total} bytes "
            f"(kept {part} to resume)"
        )
