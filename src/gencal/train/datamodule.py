"""Data for one training run: train / calibration / test splits and their loaders.

Two paths:

- ``data.loader: memory`` (default): the uint8 images live on the training device and
  :class:`gencal.data.InMemoryLoader` makes batches there (no worker processes). Epoch ``e``
  shuffles with a generator seeded from ``(seed, e)``, so a resumed run sees the same batches.
- ``data.loader: stream``: a :class:`gencal.data.StreamingImageFolder` read by a
  ``DataLoader`` with worker processes (image trees too large for memory); batches are
  converted, augmented and normalised on the device by the LightningModule.

Under DDP each rank gets a disjoint shard of every epoch's permutation (rank ``r`` takes
positions ``r, r + W, ...``) and every rank runs the same number of steps.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset, Sampler

from gencal._checks import GencalInputError
from gencal.train.identity import plain_config

__all__ = [
    "EpochShardSampler",
    "GencalDataModule",
    "RunData",
    "ShardedEval",
    "build_run_data",
    "common_train_steps",
]


@dataclass
class RunData:
    """The three splits of a run (in-memory uint8 images or streaming datasets).

    In memory (``streaming=False``), ``train``, ``cal`` and ``test`` are uint8 arrays
    ``[N, H, W, C]``; streaming, they are datasets whose items are ``(uint8 [H, W, C], label)``.
    Labels are int64 ``[N]``; ``mean`` and ``std`` (one value per channel) normalise images
    scaled to [0, 1]; ``groups`` maps class -> group name (``many``, ``medium``, ``few``) for
    long-tailed training sets.

    Example:
        >>> from gencal.train import compose_config
        >>> data = build_run_data(compose_config(["experiment=demo"]))
        >>> data.train.shape, data.train.dtype, data.num_classes, data.in_channels
        ((1009, 8, 8, 1), dtype('uint8'), 10, 1)
        >>> len(data.cal_labels), len(data.test_labels), data.streaming
        (337, 451, False)
    """

    train: Any
    cal: Any
    test: Any
    train_labels: np.ndarray
    cal_labels: np.ndarray
    test_labels: np.ndarray
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    in_channels: int
    groups: dict[int, str] | None
    streaming: bool

    @property
    def num_classes(self) -> int:
        """Number of classes (``len(class_names)``)."""
        return len(self.class_names)


def build_run_data(cfg: DictConfig) -> RunData:
    """Load the dataset, make it long-tailed or a balanced subset if asked, split off the cal set.

    ``data.train_per_class: n`` keeps ``n`` training images of each class (drawn with the run's
    seed) before the calibration split.

    The calibration split is a stratified ``data.cal_fraction`` of the (long-tailed) training
    set, chosen with the run's seed; the test split is the dataset's own test split.

    Args:
        cfg: a composed config (its ``data`` node and ``seed``).

    Returns:
        The splits (:class:`RunData`).

    Raises:
        GencalInputError: ``data.cal_fraction`` is not in (0, 1), or a streaming option is
            missing or unsupported.

    Example:
        >>> import numpy as np
        >>> from gencal.train import compose_config
        >>> data = build_run_data(compose_config(["experiment=demo", "data.train_per_class=20"]))
        >>> np.bincount(data.train_labels) + np.bincount(data.cal_labels)
        array([20, 20, 20, 20, 20, 20, 20, 20, 20, 20])
        >>> lt = compose_config(["data.long_tail={imbalance_factor: 10}"])
        >>> data = build_run_data(lt)
        >>> counts = np.bincount(data.train_labels) + np.bincount(data.cal_labels)
        >>> int(counts[0]), int(counts[-1]), sorted(set(data.groups.values()))  # head / tail = 10
        (130, 13, ['few', 'many', 'medium'])
    """
    from gencal.data import balanced_subset, load_dataset, stratified_split

    d = cfg.data
    kwargs = dict(plain_config(d.get("kwargs")) or {})
    frac = float(d.cal_fraction)
    if not 0.0 < frac < 1.0:
        raise GencalInputError(
            f"data.cal_fraction: must lie in (0, 1) (a calibration split is required), got {frac}"
        )
    if str(d.get("loader", "memory")) == "stream":
        return _build_streaming(cfg, kwargs, frac)
    train = load_dataset(str(d.name), root=d.get("root"), split="train", **kwargs)
    test = load_dataset(str(d.name), root=d.get("root"), split="test", **kwargs)
    groups = None
    lt = d.get("long_tail")
    if lt:
        from gencal.data import make_long_tailed

        train = make_long_tailed(
            train,
            imbalance_factor=float(lt.imbalance_factor),
            profile=str(lt.get("profile", "exp")),
            seed=int(cfg.seed),
        )
        groups = dict(train.groups) if train.groups else None
    per_class = d.get("train_per_class")
    if per_class:
        train = balanced_subset(train, int(per_class), seed=int(cfg.seed))
    train_idx, cal_idx = stratified_split(train.labels, frac, seed=int(cfg.seed))
    tr, ca = train.subset(train_idx), train.subset(cal_idx)
    return RunData(
        train=tr.images,
        cal=ca.images,
        test=test.images,
        train_labels=tr.labels,
        cal_labels=ca.labels,
        test_labels=test.labels,
        class_names=list(train.class_names),
        mean=tuple(train.mean),
        std=tuple(train.std),
        in_channels=int(train.images.shape[3]),
        groups=groups,
        streaming=False,
    )


class _LabelledSubset(Dataset):
    """Rows ``indices`` of a streaming dataset; items are ``(uint8 [H, W, C], label)``."""

    def __init__(self, base: Dataset, indices: np.ndarray) -> None:
        self.base, self.indices = base, np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.base[int(self.indices[i])]


def _build_streaming(cfg: DictConfig, kwargs: dict, frac: float) -> RunData:
    from gencal.data import StreamingImageFolder, stratified_split

    d = cfg.data
    path = kwargs.pop("path", None) or d.get("root")
    if path is None:
        raise GencalInputError("data.kwargs.path: the image folder (or zip) to stream from")
    if d.get("long_tail"):
        raise GencalInputError("data.long_tail: not supported with data.loader=stream")
    train = StreamingImageFolder(path, "train", **kwargs)
    test = StreamingImageFolder(path, "test", **kwargs)
    labels = np.asarray(train.labels, dtype=np.int64)
    train_idx, cal_idx = stratified_split(labels, frac, seed=int(cfg.seed))
    mean = tuple(d.get("mean") or ())
    std = tuple(d.get("std") or ())
    first = train[0][0]
    c = int(first.shape[-1])
    if not mean:
        mean, std = (0.5,) * c, (0.25,) * c
        warnings.warn(
            "data.mean/data.std not set for the streaming loader: normalising with 0.5/0.25",
            stacklevel=2,
        )
    return RunData(
        train=_LabelledSubset(train, train_idx),
        cal=_LabelledSubset(train, cal_idx),
        test=test,
        train_labels=labels[train_idx],
        cal_labels=labels[cal_idx],
        test_labels=np.asarray(test.labels, dtype=np.int64),
        class_names=list(train.class_names),
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
        in_channels=c,
        groups=None,
        streaming=True,
    )


def _shard_len(n: int, rank: int, world_size: int) -> int:
    return len(range(rank, n, world_size))


def common_train_steps(n: int, batch_size: int, world_size: int) -> int:
    """Training steps per epoch that every rank can take (the same on all ranks).

    Rank ``r`` holds ``len(range(r, n, W))`` samples; a final batch of a single sample is not
    used (it would give GCE a zero loss and BatchNorm no statistics).

    Args:
        n: training samples.
        batch_size: samples per step on each rank.
        world_size: number of ranks ``W``.

    Returns:
        The steps of the rank with the fewest.

    Example:
        >>> common_train_steps(130, 64, 1)  # 64 + 64 + a last batch of 2
        3
        >>> common_train_steps(129, 64, 1)  # the last single sample is dropped
        2
        >>> common_train_steps(130, 32, 2)  # 65 samples on each rank
        2
    """
    steps = []
    for r in range(world_size):
        m = _shard_len(n, r, world_size)
        full, rest = divmod(m, batch_size)
        steps.append(full + (1 if rest >= 2 else 0))
    return max(min(steps), 0)


class _EpochBatches:
    """Wrap a loader: set its epoch from ``epoch_fn()`` at each pass and cap the steps."""

    def __init__(self, loader: Any, epoch_fn: Callable[[], int], steps: int) -> None:
        self.loader, self.epoch_fn, self.steps = loader, epoch_fn, steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[Any]:
        self.loader.set_epoch(self.epoch_fn())
        it = iter(self.loader)
        for _ in range(self.steps):
            yield next(it)


class EpochShardSampler(Sampler[int]):
    """DistributedSampler-like sampler: a permutation seeded by ``(seed, epoch)``, sharded.

    Rank ``r`` takes positions ``r, r + W, ...`` of the permutation (no padding, so shards are
    disjoint); ``set_epoch`` is called before each training epoch.

    Args:
        n: dataset length.
        rank: this rank ``r``.
        world_size: number of ranks ``W``.
        seed: the run's seed.
        shuffle: permute (training) or keep the order (evaluation).

    Example:
        >>> ranks = [EpochShardSampler(10, rank=r, world_size=2, seed=0) for r in (0, 1)]
        >>> a, b = list(ranks[0]), list(ranks[1])
        >>> len(a), len(b), sorted(a + b) == list(range(10))
        (5, 5, True)
        >>> ranks[0].set_epoch(1); list(ranks[0]) != a  # another epoch, another permutation
        True
        >>> list(EpochShardSampler(5, rank=1, world_size=2, shuffle=False))
        [1, 3]
    """

    def __init__(self, n: int, rank: int = 0, world_size: int = 1, seed: int = 0, shuffle=True):
        self.n, self.rank, self.world_size = int(n), int(rank), int(world_size)
        self.seed, self.shuffle, self.epoch = int(seed), bool(shuffle), 0

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of ``epoch`` in the next iteration."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return _shard_len(self.n, self.rank, self.world_size)

    def __iter__(self) -> Iterator[int]:
        from gencal.data.loader import epoch_seed

        if self.shuffle:
            g = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.arange(self.n)
        return iter(order[self.rank :: self.world_size].tolist())


def _collate_uint8(items: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.stack([it[0] for it in items])  # [B, H, W, C] uint8
    y = torch.tensor([int(it[1]) for it in items], dtype=torch.int64)
    return x, y


class ShardedEval:
    """Positions of an evaluation split held by each rank, to restore the sample order.

    Rank ``r`` of ``W`` holds positions ``r, r + W, ...`` (no shuffling). Each rank pads its
    rows to ``max_len``; :meth:`reorder` puts the gathered rows back in the original order.

    Args:
        n: split length.
        world_size: number of ranks ``W``.

    Example:
        >>> sh = ShardedEval(5, world_size=2)
        >>> sh.positions(0).tolist(), sh.positions(1).tolist(), sh.max_len
        ([0, 2, 4], [1, 3], 3)
        >>> gathered = torch.tensor([[0, 2, 4], [1, 3, -1]])  # [W, max_len], rank 1 padded
        >>> sh.reorder(gathered).tolist()
        [0, 1, 2, 3, 4]
    """

    def __init__(self, n: int, world_size: int) -> None:
        self.n, self.world_size = int(n), int(world_size)
        self.max_len = math.ceil(self.n / self.world_size) if self.n else 0

    def positions(self, rank: int) -> np.ndarray:
        """Positions held by ``rank`` (int64)."""
        return np.arange(rank, self.n, self.world_size, dtype=np.int64)

    def reorder(self, gathered: torch.Tensor) -> torch.Tensor:
        """``gathered [W, max_len, ...]`` (each rank's rows, padded) -> ``[n, ...]`` in order."""
        out = gathered.new_empty((self.n, *gathered.shape[2:]))
        for r in range(self.world_size):
            pos = torch.from_numpy(self.positions(r)).to(gathered.device)
            out[pos] = gathered[r, : len(pos)]
        return out


class GencalDataModule(L.LightningDataModule):
    """Lightning data module over :class:`RunData` (loaders are made on the trainer's device).

    The training loader runs :func:`common_train_steps` steps per epoch, shuffled by
    ``(seed, epoch)``; the validation loader is the calibration split; the test stage has two
    loaders, calibration then test. Without a trainer it acts as rank 0 of 1 on the CPU.

    Args:
        data: the run's splits.
        cfg: a composed config (``data.batch_size``, ``data.eval_batch_size``,
            ``data.num_workers``, ``data.augment``, ``seed``, ``trainer.channels_last``).

    Raises:
        GencalInputError: ``data.batch_size`` is below 1.

    Example:
        >>> from gencal.train import compose_config
        >>> cfg = compose_config(["experiment=demo"])
        >>> dm = GencalDataModule(build_run_data(cfg), cfg)
        >>> dm.train_steps(), len(dm.train_dataloader())
        (16, 16)
        >>> x, y = next(iter(dm.train_dataloader()))
        >>> x.shape, x.dtype, y.shape
        (torch.Size([64, 1, 8, 8]), torch.float32, torch.Size([64]))
        >>> [len(loader.labels) for loader in dm.test_dataloader()]
        [337, 451]
    """

    def __init__(self, data: RunData, cfg: DictConfig) -> None:
        super().__init__()
        self.data = data
        self.batch_size = int(cfg.data.batch_size)
        self.eval_batch_size = int(cfg.data.get("eval_batch_size", 1024))
        self.num_workers = int(cfg.data.get("num_workers", 4))
        self.seed = int(cfg.seed)
        self.channels_last = bool(cfg.trainer.get("channels_last", False))
        aug = cfg.data.get("augment") or {}
        self.crop_padding = int(aug.get("crop_padding", 0))
        self.flip = bool(aug.get("flip", False))
        self.mixup_alpha = float(aug.get("mixup_alpha", 0.0))
        if self.batch_size < 1:
            raise GencalInputError(f"data.batch_size: must be >= 1, got {self.batch_size}")

    # ------------------------------------------------------------------ helpers
    def make_augment(self):
        """The batch augmentation of ``data.augment`` (crop, flip, mixup)."""
        from gencal.data import BatchAugment

        return BatchAugment(
            crop_padding=self.crop_padding, flip=self.flip, mixup_alpha=self.mixup_alpha
        )

    def _rank_world(self) -> tuple[int, int, torch.device]:
        t = self.trainer
        if t is None:
            return 0, 1, torch.device("cpu")
        return t.global_rank, t.world_size, t.strategy.root_device

    def _epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def _memory_loader(self, images, labels, *, train: bool, augment=None):
        from gencal.data import InMemoryLoader

        rank, world, device = self._rank_world()
        return InMemoryLoader(
            images,
            labels,
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            seed=self.seed,
            device=device,
            augment=augment,
            mean=self.data.mean,
            std=self.data.std,
            rank=rank,
            world_size=world,
            channels_last=self.channels_last,
        )

    def _stream_loader(self, dataset, *, train: bool) -> DataLoader:
        rank, world, device = self._rank_world()
        sampler = EpochShardSampler(len(dataset), rank, world, seed=self.seed, shuffle=train)
        return DataLoader(
            dataset,
            batch_size=self.batch_size if train else self.eval_batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=_collate_uint8,
            pin_memory=device.type == "cuda",
            persistent_workers=self.num_workers > 0 and train,
            drop_last=False,
        )

    def train_steps(self) -> int:
        """Training steps per epoch on every rank (:func:`common_train_steps`)."""
        _, world, _ = self._rank_world()
        return common_train_steps(len(self.data.train_labels), self.batch_size, world)

    # ------------------------------------------------------------------ loaders
    def train_dataloader(self):
        steps = self.train_steps()
        if steps == 0:
            raise GencalInputError(
                f"data.batch_size: {len(self.data.train_labels)} training images give no "
                "training step per process; lower the batch size or the number of devices"
            )
        if self.data.streaming:
            loader = self._stream_loader(self.data.train, train=True)
            return _EpochBatches(_SamplerEpoch(loader), self._epoch, steps)
        crop_flip = self.make_augment()
        crop_flip = None if crop_flip.is_identity else crop_flip
        loader = self._memory_loader(
            self.data.train, self.data.train_labels, train=True, augment=crop_flip
        )
        return _EpochBatches(loader, self._epoch, steps)

    def _eval_loader(self, images, labels):
        if self.data.streaming:
            return self._stream_loader(images, train=False)
        return self._memory_loader(images, labels, train=False)

    def val_dataloader(self):
        return self._eval_loader(self.data.cal, self.data.cal_labels)

    def test_dataloader(self):
        return [
            self._eval_loader(self.data.cal, self.data.cal_labels),
            self._eval_loader(self.data.test, self.data.test_labels),
        ]


class _SamplerEpoch:
    """Give a DataLoader a ``set_epoch`` that reaches its sampler."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader

    def set_epoch(self, epoch: int) -> None:
        self.loader.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        return iter(self.loader)
