"""Batch loaders: an in-memory loader that keeps uint8 data on the device, and a streaming one.

``InMemoryLoader`` moves the uint8 images to ``device`` once; each batch is gathered there,
converted to float, augmented and normalised on the device, with no worker processes. Epoch ``e``
uses a generator seeded from ``(seed, e)``, so an epoch's batches are the same whether or not
training was resumed. ``StreamingImageFolder`` + :func:`streaming_loader` read image files lazily
(directory or zip) through a ``DataLoader`` with workers, for trees too large for memory.
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from gencal._checks import GencalInputError
from gencal.data.augment import BatchAugment, uint8_nchw_to_float
from gencal.data.dataset import ImageDataset
from gencal.data.image_folder import index_image_folder

__all__ = ["InMemoryLoader", "StreamingImageFolder", "epoch_seed", "streaming_loader"]


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed for ``(seed, epoch)`` (``numpy.random.SeedSequence``).

    Args:
        seed: the run's base seed (its low 32 bits are used).
        epoch: the epoch.

    Returns:
        An int in ``[0, 2**63)``, different for different epochs, the same on every call.

    Example:
        >>> s0, s1 = epoch_seed(0, 0), epoch_seed(0, 1)
        >>> s0 == epoch_seed(0, 0), s0 != s1, 0 <= s1 < 2**63
        (True, True, True)
    """
    return int(
        np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch)]).generate_state(2, np.uint64)[0]
        >> 1
    )


class InMemoryLoader:
    """Iterate ``(x, y)`` device batches over uint8 images held on ``device``.

    Args:
        images: uint8 ``[N, H, W, C]`` (numpy or tensor), or an :class:`ImageDataset` (then
            ``labels``, ``mean`` and ``std`` default to the dataset's).
        labels: int ``[N]``.
        batch_size, shuffle, drop_last: as in ``torch.utils.data.DataLoader``.
        seed: base seed; epoch ``e`` shuffles and augments with ``epoch_seed(seed, e)``.
        device: where the data lives and batches are made.
        augment: a :class:`BatchAugment` applied to the uint8 batch before the float conversion
            (so the crop padding is black, as with torchvision; ``fill`` is then a pixel value),
            or ``None``.
        mean, std: per-channel normalisation (``None``: leave values in [0, 1]).
        rank, world_size: shard each epoch's order for data-parallel training: rank ``r``
            takes positions ``r, r + world_size, ...``.
        even_shards: pad the order with its first entries to a multiple of ``world_size`` so
            that every rank gets the same number of batches (``DistributedSampler``'s
            behaviour; a rank with one batch fewer would hang the gradient all-reduce).
            Default: ``shuffle`` (training pads; evaluation sees every sample exactly once).
        channels_last: return batches in ``torch.channels_last`` memory format.
        data_threads: torch intra-op threads while a batch is made (restored afterwards);
            default 1 on CPU (see docs/data.md), ``None`` on accelerators: leave the setting
            alone.

    Shape:
        Iterating yields ``(x, y)`` on ``device``: ``x`` float32 ``[B, C, H, W]``, ``y`` int64
        ``[B]``; ``len(loader)`` is the number of batches of this rank.

    Mixup is left to the caller: ``augment.mixup(x, y, loader.generator)``. The epoch counter
    advances after every full pass; call :meth:`set_epoch` to choose it (e.g. when resuming).

    Raises:
        GencalInputError: images not uint8 ``[N, H, W, C]``, labels missing or not ``[N]``,
            ``batch_size < 1`` or ``rank`` outside ``[0, world_size)``.

    Example:
        >>> images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1).repeat(4, 1).repeat(4, 2)
        >>> loader = InMemoryLoader(images, np.arange(10), batch_size=4, shuffle=False)
        >>> [tuple(x.shape) for x, _ in loader], len(loader)
        ([(4, 1, 4, 4), (4, 1, 4, 4), (2, 1, 4, 4)], 3)
        >>> x, y = next(iter(loader))
        >>> y.tolist(), x[:, 0, 0, 0].mul(255).round().tolist()  # values / 255 (no mean/std)
        ([0, 1, 2, 3], [0.0, 1.0, 2.0, 3.0])
        >>> shuffled = InMemoryLoader(images, np.arange(10), batch_size=10, seed=7)
        >>> first = next(iter(shuffled))[1].tolist()  # epoch 0
        >>> shuffled.set_epoch(0)
        >>> next(iter(shuffled))[1].tolist() == first, sorted(first) == list(range(10))
        (True, True)
    """

    def __init__(
        self,
        images: np.ndarray | torch.Tensor | ImageDataset,
        labels: np.ndarray | torch.Tensor | None = None,
        batch_size: int = 128,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        device: torch.device | str = "cpu",
        augment: BatchAugment | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        *,
        rank: int = 0,
        world_size: int = 1,
        channels_last: bool = False,
        data_threads: int | None = -1,
        even_shards: bool | None = None,
    ) -> None:
        if isinstance(images, ImageDataset):
            ds = images
            images = ds.images
            labels = ds.labels if labels is None else labels
            mean = ds.mean if mean is None else mean
            std = ds.std if std is None else std
        if labels is None:
            raise GencalInputError("labels: required when images is not an ImageDataset")
        if batch_size < 1:
            raise GencalInputError(f"batch_size: must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise GencalInputError(f"rank: must lie in [0, {world_size}), got {rank}")
        self.device = torch.device(device)
        u8 = (
            images
            if isinstance(images, torch.Tensor)
            else torch.from_numpy(np.ascontiguousarray(images))
        )
        if u8.dtype != torch.uint8 or u8.ndim != 4:
            raise GencalInputError(
                f"images: expected uint8 [N, H, W, C], got {u8.dtype} {tuple(u8.shape)}"
            )
        lab = labels if isinstance(labels, torch.Tensor) else torch.from_numpy(np.asarray(labels))
        if lab.ndim != 1 or len(lab) != len(u8):
            raise GencalInputError(f"labels: expected [{len(u8)}], got {tuple(lab.shape)}")
        self.images = u8.to(self.device)
        self.labels = lab.to(self.device, torch.int64)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.augment = augment
        self.mean = tuple(mean) if mean is not None else None
        self.std = tuple(std) if std is not None else None
        self.rank, self.world_size = int(rank), int(world_size)
        self.channels_last = channels_last
        if data_threads == -1:
            data_threads = 1 if self.device.type == "cpu" else None
        self.data_threads = data_threads
        self.even_shards = self.shuffle if even_shards is None else bool(even_shards)
        self.epoch = 0
        self.generator = torch.Generator(device="cpu")

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch ``epoch`` (its order and augmentation)."""
        self.epoch = int(epoch)

    def _num_samples(self) -> int:
        n = len(self.labels)
        if self.even_shards:
            return -(-n // self.world_size)
        return len(range(self.rank, n, self.world_size))

    def __len__(self) -> int:
        n = self._num_samples()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.generator.manual_seed(epoch_seed(self.seed, self.epoch))
        n = len(self.labels)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator)
        else:
            order = torch.arange(n)
        pad = (-n) % self.world_size if self.even_shards else 0
        if pad:
            order = torch.cat([order, order[:pad]])
        order = order[self.rank :: self.world_size].to(self.device)
        nb = len(self)
        for i in range(nb):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            with _intra_op_threads(self.data_threads):
                u8 = self.images.index_select(0, idx).permute(0, 3, 1, 2)
                if self.augment is not None:
                    u8 = self.augment(u8, self.generator)
                x = uint8_nchw_to_float(u8, self.mean, self.std, channels_last=self.channels_last)
                y = self.labels.index_select(0, idx)
            yield x, y
        self.epoch += 1


@contextlib.contextmanager
def _intra_op_threads(n: int | None):
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    if old != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if old != n:
            torch.set_num_threads(old)


class StreamingImageFolder(Dataset):
    """A map-style dataset reading one image per item from a directory tree or zip archive.

    Items are ``(uint8 tensor [H, W, C], label)``; each worker opens its own zip handle. Use
    :func:`streaming_loader` to batch them, then :func:`to_float_tensor` and
    :class:`BatchAugment` on the device. Files and labels are those of
    :func:`~gencal.data.image_folder.index_image_folder`.

    Args:
        path: a directory or ``.zip`` file in the image-folder layout.
        split: the split to serve.
        mode: Pillow mode every image is converted to (``"RGB"`` or ``"L"``).
        size: ``(H, W)`` to resize every image to (bilinear), or ``None``.

    Raises:
        GencalInputError: the tree has no such split.

    Example:
        A zip archive of three images:

        >>> import tempfile
        >>> from pathlib import Path
        >>> tmp = tempfile.TemporaryDirectory()
        >>> archive = Path(tmp.name) / "pets.zip"
        >>> with zipfile.ZipFile(archive, "w") as zf:
        ...     for member in ["pets/cat/0.png", "pets/dog/1.png", "pets/dog/2.png"]:
        ...         png = io.BytesIO()
        ...         Image.new("RGB", (6, 6)).save(png, "PNG")
        ...         zf.writestr(member, png.getvalue())
        >>> ds = StreamingImageFolder(archive, size=(4, 4))
        >>> image, label = ds[2]
        >>> len(ds), tuple(image.shape), image.dtype, label
        (3, (4, 4, 3), torch.uint8, 1)
        >>> tmp.cleanup()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        split: str = "train",
        *,
        mode: str = "RGB",
        size: tuple[int, int] | None = None,
    ) -> None:
        index = index_image_folder(path)
        if split not in index.splits:
            raise GencalInputError(f"{path}: no {split!r} split (found {sorted(index.splits)})")
        self.source = index.source
        self.is_zip = index.is_zip
        self.files, labels = index.splits[split]
        self.labels = labels
        self.class_names = index.class_names
        self.mode = mode
        self.size = size
        self._zip: zipfile.ZipFile | None = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return len(self.files)

    def _read(self, name: str) -> bytes:
        if not self.is_zip:
            return (self.source / name).read_bytes()
        if self._zip is None or self._pid != os.getpid():
            self._zip = zipfile.ZipFile(self.source)
            self._pid = os.getpid()
        return self._zip.read(name)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        with Image.open(io.BytesIO(self._read(self.files[i]))) as im:
            im = im.convert(self.mode)
            if self.size is not None:
                im = im.resize((self.size[1], self.size[0]), Image.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
        if arr.ndim == 2:
            arr = arr[..., None]
        return torch.from_numpy(arr.copy()), int(self.labels[i])

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_zip"] = None
        return state


def streaming_loader(
    dataset: StreamingImageFolder,
    batch_size: int = 128,
    *,
    shuffle: bool = True,
    seed: int = 0,
    num_workers: int = 2,
    drop_last: bool = False,
    pin_memory: bool = False,
) -> DataLoader:
    """A ``DataLoader`` over a :class:`StreamingImageFolder` yielding uint8 ``[B, H, W, C]`` batches.

    Args:
        dataset: the images.
        batch_size: images per batch.
        shuffle: reshuffle every epoch, with a generator seeded from ``seed``.
        seed: seed of the shuffling.
        num_workers: worker processes (kept alive between epochs; 0: load in this process).
        drop_last: drop the last, smaller batch.
        pin_memory: as in ``torch.utils.data.DataLoader``.

    Returns:
        The ``DataLoader``; it yields ``(images uint8 [B, H, W, C], labels int64 [B])``.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> tmp = tempfile.TemporaryDirectory()
        >>> for rel in ["cat/0.png", "dog/1.png", "dog/2.png"]:
        ...     (Path(tmp.name) / rel).parent.mkdir(exist_ok=True)
        ...     Image.new("RGB", (4, 4)).save(Path(tmp.name) / rel)
        >>> ds = StreamingImageFolder(tmp.name)
        >>> loader = streaming_loader(ds, batch_size=2, shuffle=False, num_workers=0)
        >>> [(tuple(x.shape), y.tolist()) for x, y in loader]
        [((2, 4, 4, 3), [0, 1]), ((1, 4, 4, 3), [1])]
        >>> tmp.cleanup()
    """
    g = torch.Generator()
    g.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=g,
        num_workers=num_workers,
        drop_last=drop_last,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )
