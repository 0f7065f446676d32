"""Overhead of gencal's Lightning training path against a plain PyTorch loop (images/s).

Both paths train the same model (same initial weights) with the same loss, SGD and per-epoch
schedule, on the same data from the same :class:`gencal.data.InMemoryLoader` (same random-crop
augmentation, same batches), in the same process and with the same torch threads:

- plain: ``for x, y in loader: zero_grad; loss(model(x), y).backward(); step`` per epoch;
- gencal: :class:`gencal.train.module.ClassifierModule` under ``lightning.Trainer`` exactly as
  ``train_run`` builds it (loss parts logged, NaN check, loader wrapper, epoch schedule), with
  the per-epoch calibration-split validation and checkpoint switched off so that both paths
  do the same work.

Epochs of the two paths alternate in blocks (plain, gencal, plain, gencal, ...); the median
epoch time of each is reported with their ratio. The target is gencal >= 0.95 x plain.
A second figure times the full ``train_run`` epoch (with its cal validation and atomic
checkpoint) for information.

    PYTHONPATH=src python benchmarks/trainer_overhead.py [--quick] [--threads 1] [--rounds 3]

The machine is shared, so absolute images/s are noisy; the interleaved ratio is the figure.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import lightning as L
import numpy as np
import torch

from gencal.data import BatchAugment, InMemoryLoader, load_dataset
from gencal.losses import get_loss
from gencal.models import get_model
from gencal.train.datamodule import _EpochBatches, common_train_steps
from gencal.train.module import ClassifierModule
from gencal.train.schedules import cosine

NUM_CLASSES = 10
OPT = {"_target_": "torch.optim.SGD", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}


def _data(quick: bool):
    if not quick:
        try:
            ds = load_dataset("fashion_mnist", split="train")
            n = 2048
            return ds.images[:n], ds.labels[:n], ds.mean, ds.std, "cnn28", f"fashion_mnist[:{n}]"
        except Exception as exc:  # dataset not installed: fall back to digits
            print(f"fashion_mnist unavailable ({type(exc).__name__}); using digits")
    ds = load_dataset("digits", split="train")
    return ds.images, ds.labels, ds.mean, ds.std, "cnn8", "digits"


DEVICE = "cpu"
PRECISION = "32-true"


def _loader(images, labels, mean, std, batch, seed=0):
    return InMemoryLoader(
        images,
        labels,
        device=DEVICE,
        batch_size=batch,
        shuffle=True,
        seed=seed,
        augment=BatchAugment(crop_padding=2, flip=False),
        mean=mean,
        std=std,
        channels_last=True,
    )


class _EpochTimer(L.Callback):
    def __init__(self):
        self.times: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module):
        _sync()
        self._t = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        _sync()
        self.times.append(time.perf_counter() - self._t)


def _sync():
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


def plain_epochs(model, loader, steps, epochs, start_epoch=0) -> list[float]:
    loss_fn = get_loss("ce", validate_args=False)
    bf16 = PRECISION.startswith("bf16")
    opt = torch.optim.SGD(
        model.parameters(),
        lr=OPT["lr"],
        momentum=OPT["momentum"],
        weight_decay=OPT["weight_decay"],
    )
    sched = cosine(opt, epochs=epochs)
    model.train()
    times = []
    for epoch in range(start_epoch, start_epoch + epochs):
        _sync()
        t = time.perf_counter()
        loader.set_epoch(epoch)
        for _, (x, y) in zip(range(steps), loader):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(x)
            loss = loss_fn(logits, y)
            loss.backward()
            opt.step()
        sched.step()
        _sync()
        times.append(time.perf_counter() - t)
    return times


def gencal_epochs(model, loader, steps, epochs, mean, std) -> list[float]:
    module = ClassifierModule(
        model,
        get_loss("ce", validate_args=False),
        num_classes=NUM_CLASSES,
        optimizer=OPT,
        scheduler={"_target_": "gencal.train.schedules.cosine", "epochs": epochs},
        epochs=epochs,
        mean=mean,
        std=std,
        augment=BatchAugment(crop_padding=2, flip=False),
        channels_last=True,
    )
    timer = _EpochTimer()
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="gpu" if DEVICE.startswith("cuda") else "cpu",
        devices=1,
        precision=PRECISION,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        log_every_n_steps=1_000_000,
        callbacks=[timer],
    )
    batches = _EpochBatches(loader, lambda: trainer.current_epoch, steps)
    trainer.fit(module, train_dataloaders=batches)
    return timer.times


def full_run_epoch(tmp, threads: int) -> tuple[float, int]:
    """Seconds per epoch of a real ``train_run`` of the demo (cal validation + checkpoint)."""
    from gencal.train import compose_config, load_run, train_run

    cfg = compose_config(
        ["experiment=demo", f"output_root={tmp}", "trainer.epochs=3", f"trainer.threads={threads}"]
    )
    run = load_run(train_run(cfg))
    return run.meta["training_seconds"] / 3, run.meta["n_train"]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="digits + small CNN, fewer rounds")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--rounds", type=int, default=None, help="alternating blocks per path")
    p.add_argument("--epochs", type=int, default=2, help="epochs per block")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--device", default="cpu", help="cpu or cuda (GPU: in-memory data on it)")
    p.add_argument("--precision", default=None, help="32-true (CPU default) or bf16-mixed")
    p.add_argument("--model", default=None, help="model name (default: cnn28 / cnn8 quick)")
    p.add_argument(
        "--synthetic", type=int, default=0, help="N random 32x32x3 images (GPU runs, no data)"
    )
    args = p.parse_args(argv)
    global DEVICE, PRECISION, NUM_CLASSES
    DEVICE = args.device
    PRECISION = args.precision or ("bf16-mixed" if DEVICE.startswith("cuda") else "32-true")
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)
    rounds = args.rounds or 2
    if args.synthetic:
        g = np.random.default_rng(0)
        images = g.integers(0, 256, (args.synthetic, 32, 32, 3), dtype=np.uint8)
        labels = g.integers(0, 10, args.synthetic)
        mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
        model_name, data_name = "resnet20", f"random uint8 32x32x3 x{args.synthetic}"
    else:
        images, labels, mean, std, model_name, data_name = _data(args.quick)
    model_name = args.model or model_name
    steps = common_train_steps(len(labels), args.batch, 1)
    n_img = sum(
        min(args.batch, len(labels) - i * args.batch) for i in range(steps)
    )  # images per epoch
    c = images.shape[3]

    def fresh_model():
        torch.manual_seed(0)
        return (
            get_model(model_name, num_classes=NUM_CLASSES, in_channels=c)
            .to(DEVICE)
            .to(memory_format=torch.channels_last)
        )

    plain, ours = [], []
    # warm-up (allocator, kernels) for both paths
    plain_epochs(fresh_model(), _loader(images, labels, mean, std, args.batch), steps, 1)
    gencal_epochs(
        fresh_model(), _loader(images, labels, mean, std, args.batch), steps, 1, mean, std
    )
    for _ in range(rounds):
        plain += plain_epochs(
            fresh_model(), _loader(images, labels, mean, std, args.batch), steps, args.epochs
        )
        ours += gencal_epochs(
            fresh_model(),
            _loader(images, labels, mean, std, args.batch),
            steps,
            args.epochs,
            mean,
            std,
        )
    tp, tg = statistics.median(plain), statistics.median(ours)
    print(
        f"data {data_name} ({n_img} images/epoch), model {model_name}, batch {args.batch}, "
        f"threads {args.threads}, device {DEVICE}, precision {PRECISION}, "
        f"{len(plain)} epochs per path (interleaved blocks)"
    )
    print(f"plain PyTorch loop : {n_img / tp:8.1f} img/s  (median epoch {tp:.3f} s)")
    print(f"gencal Lightning   : {n_img / tg:8.1f} img/s  (median epoch {tg:.3f} s)")
    ratio = tp / tg
    print(
        f"gencal / plain     : {ratio:.3f}  (target >= 0.95: {'met' if ratio >= 0.95 else 'NOT met'})"
    )
    print(f"epoch times plain  : {' '.join(f'{t:.3f}' for t in plain)}")
    print(f"epoch times gencal : {' '.join(f'{t:.3f}' for t in ours)}")
    if DEVICE != "cpu":
        return
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        sec, n_train = full_run_epoch(tmp, args.threads)
    print(
        f"full train_run epoch on digits (demo MLP, cal validation + checkpoint included): "
        f"{sec:.3f} s for {n_train} images ({n_train / sec:.0f} img/s)"
    )


if __name__ == "__main__":
    main()
