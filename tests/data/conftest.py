"""Shared fixtures: tiny files in the exact official formats."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
# ../shared/data beside the checkout (for a git worktree nested one level deeper, further up).
SHARED_DATA = next(
    (p / "shared" / "data" for p in REPO.parents if (p / "shared" / "data").is_dir()),
    REPO.parent / "shared" / "data",
)
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def idx_bytes(arr: np.ndarray) -> bytes:
    """IDX encoding written from the format description: 0,0,type,ndim, big-endian dims, data."""
    assert arr.dtype == np.uint8
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">i", d) for d in arr.shape)
    return header + arr.tobytes()


def write_idx_set(
    folder: Path, n_train: int = 20, n_test: int = 10, gz: bool = True, seed: int = 0
):
    """Write the four MNIST-style IDX files; returns (arrays, {stem: raw md5}, {stem: file md5})."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": ((np.arange(n_test) * 3) % 10).astype(np.uint8),
    }
    sums, file_sums = {}, {}
    for stem, arr in arrays.items():
        raw = idx_bytes(arr)
        sums[stem] = md5(raw)
        data = gzip.compress(raw) if gz else raw
        file_sums[stem] = md5(data)
        (folder / (stem + (".gz" if gz else ""))).write_bytes(data)
    return arrays, sums, file_sums


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
