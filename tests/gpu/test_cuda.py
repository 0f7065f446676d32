"""Checks that need a CUDA device: losses, metrics, calibrators and a training run on the GPU.

Skipped where no GPU is present (this project's CPU machines and CI); run on a lent GPU machine
with ``python -m pytest tests/gpu``. Every check compares the GPU result with the CPU (float64)
result computed in the test, so the device path is checked against an independent reference.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

DEV = "cuda"


def _batch(n: int = 256, k: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g, dtype=torch.float64) * 3, torch.randint(
        0, k, (n,), generator=g
    )


@pytest.mark.parametrize(
    "name",
    [
        "ce",
        "gce",
        "label_smoothing",
        "focal",
        "flsd53",
        "dual_focal",
        "adafocal",
        "mmce",
        "mdca",
        "brier",
        "mbls",
    ],
)
def test_loss_on_cuda_matches_cpu_float64(name):
    from gencal.losses import get_loss

    z, y = _batch()
    ref_loss = get_loss(name)
    zc = z.clone().requires_grad_(True)
    ref = ref_loss(zc, y)
    ref.backward()

    loss = get_loss(name).to(DEV)
    zg = z.float().to(DEV).requires_grad_(True)
    out = loss(zg, y.to(DEV))
    out.backward()
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.double().cpu(), ref.detach(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(zg.grad.double().cpu(), zc.grad, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", ["ce", "gce", "focal", "flsd53", "dual_focal", "mdca"])
def test_loss_under_autocast_is_finite(name, dtype):
    from gencal.losses import get_loss

    z, y = _batch(n=128, k=100)
    lin = torch.nn.Linear(100, 100).to(DEV)
    loss = get_loss(name).to(DEV)
    with torch.autocast("cuda", dtype=dtype):
        out = loss(lin(z.float().to(DEV)), y.to(DEV))
    out.backward()
    assert torch.isfinite(out)
    assert all(torch.isfinite(p.grad).all() for p in lin.parameters())


def test_gce_fused_backward_on_cuda_equals_autograd_path():
    from gencal.losses import GenerativeCrossEntropyLoss

    z, y = _batch(n=512, k=1000)
    grads = []
    for implementation in ("fused", "plain"):
        zg = z.to(DEV).requires_grad_(True)
        GenerativeCrossEntropyLoss(implementation=implementation)(zg, y.to(DEV)).backward()
        grads.append(zg.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["ce", "gce", "focal", "brier"])
def test_loss_syncs_once_with_validation_and_never_without(name):
    import warnings

    from gencal.losses import get_loss

    z, y = _batch(n=512, k=100)
    y[::9] = -100
    zg, yg = z.float().to(DEV), y.to(DEV)
    for validate, most in ((False, 0), (True, 1)):
        loss_fn = get_loss(name, validate_args=validate)
        x = zg.clone().requires_grad_(True)
        loss_fn(x, yg).backward()  # warm-up (lazy CUDA initialisation may sync)
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                loss_fn(x, yg).backward()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        # torch warns "called a synchronizing CUDA operation" per sync; the first use of the
        # debug mode also warns that it "is a prototype feature": that notice is not a sync
        syncs = [w for w in caught if "called a synchronizing" in str(w.message)]
        assert len(syncs) <= most, (name, validate, [str(w.message) for w in syncs])


def test_calibration_report_on_cuda_equals_cpu():
    from gencal.metrics import calibration_report

    z, y = _batch(n=5000, k=10)
    cpu = calibration_report(z.float(), y)
    gpu = calibration_report(z.float().to(DEV), y.to(DEV))
    assert cpu.keys() == gpu.keys()
    for key in cpu:
        assert gpu[key] == pytest.approx(cpu[key], rel=1e-4, abs=1e-6), key


@pytest.mark.parametrize("name", ["ts", "ats", "vector"])
def test_calibrator_on_cuda_matches_cpu(name):
    from gencal.calibration import get_calibrator

    z, y = _batch(n=4000, k=10, seed=1)
    z = z.float() * 2  # overconfident
    cpu = get_calibrator(name).fit(z, y)
    gpu = get_calibrator(name).fit(z.to(DEV), y.to(DEV))
    out = gpu.predict_proba(z.to(DEV))
    assert out.device.type == "cuda"
    np.testing.assert_allclose(
        out.double().cpu().numpy(), cpu.predict_proba(z).double().numpy(), rtol=1e-3, atol=1e-4
    )


def test_train_run_on_gpu_bf16(tmp_path):
    from gencal.metrics import calibration_report
    from gencal.train import load_run, train_run

    run = train_run(
        [
            "experiment=demo",
            "loss=gce",
            "trainer.epochs=5",
            "trainer.accelerator=gpu",
            "trainer.precision=bf16-mixed",
            f"output_root={tmp_path}",
        ]
    )
    logits = load_run(run)
    assert np.isfinite(logits.test_logits).all()
    rep = calibration_report(logits.test_logits, logits.test_labels)
    assert rep["accuracy"] > 0.8
