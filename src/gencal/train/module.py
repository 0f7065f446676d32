"""The LightningModule that trains a classifier with a gencal loss.

- The optimiser and the learning-rate scheduler are built from their configs with
  ``hydra.utils.instantiate`` (``_target_`` plus keyword arguments: any ``torch.optim`` class and
  any ``torch.optim.lr_scheduler`` class, or the warm-up schedules of
  :mod:`gencal.train.schedules`); the scheduler steps every epoch unless its config says
  ``interval: step``.
- Batches from the streaming loader arrive as uint8 ``[B, H, W, C]`` and are converted,
  augmented and normalised here on the device; in-memory batches arrive ready (float).
- Mixup (``data.augment.mixup_alpha > 0``): ``lam L(f(x~), y_a) + (1 - lam) L(f(x~), y_b)``.
- The loss's named parts are logged as ``train/<part>`` (epoch means), and ``train/acc``: the
  accuracy on the epoch's (augmented) training batches, as the model stood at each step.
- Validation on the calibration split gathers the logits of all ranks in the original order,
  logs ``cal/acc``, ``cal/nll`` and ``cal/ece`` (15 equal-width bins, L1) and calls
  ``loss.update(cal_logits, cal_labels)`` when ``loss.needs_update`` (AdaFocal).
- The test stage collects cal and test logits in the original order (see
  :class:`gencal.train.checkpoint.LogitsWriter`).
- A NaN/inf loss raises :class:`NonFiniteLossError` before the optimiser step.
- Randomness: at the start of epoch ``e`` the global torch RNG (dropout) and the module's
  augmentation generator are seeded from ``(seed, e, rank)``, so a run resumed at an epoch
  boundary draws the same numbers as one that ran straight through.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from gencal.train.datamodule import ShardedEval

__all__ = ["ClassifierModule", "NonFiniteLossError"]


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss (or parameters).

    Raised before the optimiser step (loss) or before the epoch's checkpoint is saved
    (parameters), so the last good checkpoint is kept.

    Example:
        >>> issubclass(NonFiniteLossError, RuntimeError)
        True
    """


def _seed_for(*parts: int) -> int:
    from gencal.data.loader import epoch_seed

    s = 0
    for p in parts:
        s = epoch_seed(s, int(p))
    return s


class ClassifierModule(L.LightningModule):
    """Train ``model`` with ``loss`` (a gencal loss or any ``(logits, target) -> loss``).

    Args:
        model: the network; ``model(x)`` gives logits ``[B, K]``.
        loss: the training loss; its ``parts`` (if any) are logged, its ``update`` is called
            with the gathered calibration logits when ``needs_update``.
        num_classes: ``K``.
        optimizer: the optimiser config (``_target_`` and keyword arguments).
        scheduler: the scheduler config (``_target_``, keyword arguments and optional
            ``interval``: ``epoch`` or ``step``), or ``None``.
        epochs: training epochs.
        seed: the run's seed (per-epoch RNG seeds derive from it).
        mean: per-channel mean for streamed uint8 batches.
        std: per-channel standard deviation for streamed uint8 batches.
        augment: a :class:`gencal.data.BatchAugment` (crop/flip of streamed batches, mixup).
        channels_last: use the channels-last memory format.
        check_finite: raise :class:`NonFiniteLossError` on a NaN/inf loss.
        n_cal: calibration-split length (to check the gathered rows).
        n_test: test-split length.
        ece_bins: bins of the logged ``cal/ece``.

    Example:
        >>> model = torch.nn.Linear(4, 3)
        >>> module = ClassifierModule(model, torch.nn.CrossEntropyLoss(), num_classes=3,
        ...     optimizer={"_target_": "torch.optim.SGD", "lr": 0.1},
        ...     scheduler={"_target_": "gencal.train.schedules.cosine", "epochs": 5}, epochs=5)
        >>> module(torch.zeros(2, 4)).shape
        torch.Size([2, 3])
        >>> opt = module.configure_optimizers()
        >>> type(opt["optimizer"]).__name__, opt["lr_scheduler"]["interval"]
        ('SGD', 'epoch')
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        *,
        num_classes: int,
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None,
        epochs: int,
        seed: int = 0,
        mean: tuple[float, ...] = (0.0,),
        std: tuple[float, ...] = (1.0,),
        augment: Any = None,
        channels_last: bool = False,
        check_finite: bool = True,
        n_cal: int = 0,
        n_test: int = 0,
        ece_bins: int = 15,
    ) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss
        self.num_classes = int(num_classes)
        self.optim_cfg = dict(optimizer)
        self.scheduler_cfg = None if scheduler is None else dict(scheduler)
        self.epochs = int(epochs)
        self.seed = int(seed)
        self.mean, self.std = tuple(mean), tuple(std)
        self.augment = augment  # BatchAugment: crop/flip for streamed batches, mixup for all
        self.channels_last = bool(channels_last)
        self.check_finite = bool(check_finite)
        self.n_cal, self.n_test = int(n_cal), int(n_test)
        self.ece_bins = int(ece_bins)
        self.aug_generator: torch.Generator | None = None
        #: wall time spent in training epochs (kept across resumes, saved in the checkpoint)
        self.train_seconds = 0.0
        self._eval_buf: dict[int, list[torch.Tensor]] = {}
        self._train_sums: dict[str, torch.Tensor] = {}
        self._train_count = 0.0
        #: after the test stage: {"cal": (logits, labels), "test": (logits, labels)} (CPU)
        self.collected: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["gencal"] = {"train_seconds": float(self.train_seconds)}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.train_seconds = float(checkpoint.get("gencal", {}).get("train_seconds", 0.0))

    # ------------------------------------------------------------------ batches
    def _prepare(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        if x.dtype == torch.uint8:  # streamed [B, H, W, C]
            from gencal.data import to_float_tensor

            x = to_float_tensor(x, channels_last=self.channels_last)
            if train and self.augment is not None and not self.augment.is_identity:
                x = self.augment(x, self.aug_generator)
            from gencal.data import normalize_

            normalize_(x, self.mean, self.std)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self._prepare(x, train=False))

    # ------------------------------------------------------------------ training
    def on_train_epoch_start(self) -> None:
        epoch, rank = self.current_epoch, self.global_rank
        s = _seed_for(self.seed, epoch, rank)
        torch.manual_seed(s)  # dropout and anything else that uses the global generator
        if self.aug_generator is None or self.aug_generator.device != self.device:
            dev = self.device if self.device.type != "mps" else torch.device("cpu")
            self.aug_generator = torch.Generator(device=dev)
        self.aug_generator.manual_seed(_seed_for(self.seed, epoch, rank, 1))
        self._train_sums, self._train_count = {}, 0.0

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        x, y = batch[0], batch[1]
        x = self._prepare(x, train=True)
        if self.augment is not None and self.augment.mixup_alpha > 0:
            x, ya, yb, lam = self.augment.mixup(x, y, self.aug_generator)
            logits = self.model(x)
            la = self.loss_fn(logits, ya)
            parts_a = dict(getattr(self.loss_fn, "parts", {}) or {})
            lb = self.loss_fn(logits, yb)
            parts_b = dict(getattr(self.loss_fn, "parts", {}) or {})
            loss = lam * la + (1.0 - lam) * lb
            parts = {k: lam * v + (1.0 - lam) * parts_b.get(k, v) for k, v in parts_a.items()}
            pred = logits.detach().argmax(1)
            correct = lam * (pred == ya).sum() + (1.0 - lam) * (pred == yb).sum()
        else:
            logits = self.model(x)
            loss = self.loss_fn(logits, y)
            parts = dict(getattr(self.loss_fn, "parts", {}) or {})
            correct = (logits.detach().argmax(1) == y).sum()
        if self.check_finite:
            self._check_loss(loss, parts, batch_idx)
        # epoch means of the loss and its parts, accumulated on the device without a sync and
        # logged once in on_train_epoch_end
        bs = float(y.shape[0])
        sums = self._train_sums
        sums["loss"] = sums.get("loss", 0.0) + loss.detach().float() * bs
        for k, v in parts.items():
            if torch.is_tensor(v) and v.numel() == 1:
                sums[k] = sums.get(k, 0.0) + v.detach().float() * bs
        sums["acc"] = sums.get("acc", 0.0) + correct.float()  # mean below: the epoch's accuracy
        self._train_count += bs
        return loss

    def on_train_epoch_end(self) -> None:
        if self._train_count:
            self.log_dict(
                {f"train/{k}": v / self._train_count for k, v in self._train_sums.items()},
                sync_dist=True,
            )
        self._train_sums, self._train_count = {}, 0.0

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int):
        # in-memory batches are made on the device already: skip Lightning's generic walk
        if isinstance(batch, (tuple, list)) and all(
            torch.is_tensor(t) and t.device == device for t in batch
        ):
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def _check_loss(self, loss: torch.Tensor, parts: dict, batch_idx: int) -> None:
        bad = not bool(torch.isfinite(loss.detach()))
        if self.trainer is not None and self.trainer.world_size > 1:
            bad = self.trainer.strategy.reduce_boolean_decision(bad, all=False)
        if bad:
            desc = ", ".join(f"{k}={float(v):.4g}" for k, v in parts.items() if torch.is_tensor(v))
            raise NonFiniteLossError(
                f"non-finite training loss ({float(loss.detach()):.4g}) at epoch "
                f"{self.current_epoch}, batch {batch_idx}"
                + (f" (parts: {desc})" if desc else "")
                + "; training stopped before the optimiser step. The last good checkpoint "
                "(end of the previous epoch) is kept. Lower optimizer.lr, set "
                "trainer.grad_clip, or use trainer.precision=32-true."
            )

    def configure_optimizers(self):
        from hydra.utils import instantiate

        opt = instantiate(self.optim_cfg, params=self.parameters(), _convert_="all")
        if self.scheduler_cfg is None:
            return opt
        sched_cfg = dict(self.scheduler_cfg)
        interval = str(sched_cfg.pop("interval", "epoch"))
        sched = instantiate(sched_cfg, optimizer=opt, _convert_="all")
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": interval}}

    # ------------------------------------------------------------------ evaluation
    def _collect(self, logits: torch.Tensor, y: torch.Tensor, key: int) -> None:
        buf = self._eval_buf.setdefault(key, [])
        buf.append(torch.cat([logits.float(), y.to(logits.device, torch.float32)[:, None]], 1))

    def _gather(self, key: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows of all ranks for eval loader ``key`` in the original order: (logits, labels)."""
        rows = self._eval_buf.pop(key, [])
        local = (
            torch.cat(rows) if rows else torch.empty(0, self.num_classes + 1, device=self.device)
        )
        world = self.trainer.world_size if self.trainer is not None else 1
        if world == 1:
            full = local
        else:
            sh = ShardedEval(n, world)
            pad = local.new_zeros(sh.max_len, local.shape[1])
            pad[: len(local)] = local
            gathered = self.all_gather(pad)  # [W, max_len, K + 1]
            full = sh.reorder(gathered)
        if len(full) != n:
            raise RuntimeError(f"evaluation gathered {len(full)} rows, expected {n}")
        return full[:, :-1], full[:, -1].long()

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch[0], batch[1]
        self._collect(self(x), y, 0)

    def on_validation_epoch_start(self) -> None:
        self._eval_buf.pop(0, None)

    def on_validation_epoch_end(self) -> None:
        if self.trainer is not None and self.trainer.sanity_checking:
            self._eval_buf.pop(0, None)
            return
        logits, labels = self._gather(0, self.n_cal)
        # the cal split is small: metrics and the loss's update run on the CPU, where the
        # histogram kernels are deterministic (CUDA bincount/index_add are not)
        logits, labels = logits.detach().cpu(), labels.cpu()
        self.log_dict(cal_metrics(logits, labels, self.ece_bins), rank_zero_only=False)
        if getattr(self.loss_fn, "needs_update", False):
            self.loss_fn.update(logits, labels)

    def test_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        x, y = batch[0], batch[1]
        self._collect(self(x), y, 10 + dataloader_idx)

    def on_test_epoch_start(self) -> None:
        self._eval_buf.clear()
        self.collected = {}

    def on_test_epoch_end(self) -> None:
        for key, name, n in ((10, "cal", self.n_cal), (11, "test", self.n_test)):
            logits, labels = self._gather(key, n)
            self.collected[name] = (logits.cpu(), labels.cpu())


@torch.no_grad()
def cal_metrics(logits: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> dict[str, float]:
    """Accuracy, NLL and top-label ECE of logits on the calibration split.

    The NLL uses the exact log-softmax; the ECE has ``n_bins`` equal-width bins and the L1
    norm (:func:`gencal.metrics.expected_calibration_error`).

    Args:
        logits: ``[N, K]`` logits (not probabilities).
        labels: ``[N]`` class indices.
        n_bins: ECE bins.

    Returns:
        ``{"cal/acc", "cal/nll", "cal/ece"}`` as floats; ``{}`` for an empty split.

    Example:
        >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 1.0]])
        >>> m = cal_metrics(logits, torch.tensor([0, 1, 1, 1]))
        >>> {k: round(v, 4) for k, v in m.items()}
        {'cal/acc': 0.75, 'cal/nll': 0.6735, 'cal/ece': 0.2278}
    """
    from gencal.metrics import expected_calibration_error

    logits = logits.float()
    if len(labels) == 0:
        return {}
    return {
        "cal/acc": float((logits.argmax(1) == labels).float().mean()),
        "cal/nll": float(F.cross_entropy(logits, labels)),
        "cal/ece": expected_calibration_error(
            logits.softmax(dim=1), labels, n_bins=n_bins, validate_args=False
        ),
    }
