"""BatchAugment against a reference written with per-sample loops; to_float_tensor; loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gencal.data import BatchAugment, ImageDataset, InMemoryLoader, to_float_tensor


def reference_crop_flip(x: torch.Tensor, dy, dx, flip, p: int, fill: float = 0.0):
    """torchvision semantics with loops: pad by p with fill, crop at (dy, dx), then flip."""
    b, c, h, w = x.shape
    out = torch.empty_like(x)
    for n in range(b):
        padded = torch.full((c, h + 2 * p, w + 2 * p), fill, dtype=x.dtype)
        padded[:, p : p + h, p : p + w] = x[n]
        crop = padded[:, dy[n] : dy[n] + h, dx[n] : dx[n] + w]
        if flip[n]:
            crop = torch.stack([crop[:, :, w - 1 - j] for j in range(w)], dim=2)
        out[n] = crop
    return out


def draws(b: int, p: int, flip: bool, seed: int):
    """The random numbers BatchAugment documents: offsets randint(0, 2p+1, (2, B)), then rand(B)."""
    g = torch.Generator().manual_seed(seed)
    off = torch.randint(0, 2 * p + 1, (2, b), generator=g)
    fl = (torch.rand(b, generator=g) < 0.5) if flip else torch.zeros(b, dtype=torch.bool)
    return off[0].tolist(), off[1].tolist(), fl.tolist()


@pytest.mark.parametrize(
    "p,flip,shape", [(4, True, (16, 3, 8, 7)), (2, False, (5, 1, 6, 6)), (0, True, (6, 2, 5, 5))]
)
def test_crop_flip_matches_loop_reference(p, flip, shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    aug = BatchAugment(crop_padding=p, flip=flip)
    out = aug(x, torch.Generator().manual_seed(7))
    if p == 0:  # no offsets are drawn when there is no padding
        g = torch.Generator().manual_seed(7)
        fl = (torch.rand(shape[0], generator=g) < 0.5).tolist()
        dy = dx = [0] * shape[0]
    else:
        dy, dx, fl = draws(shape[0], p, flip, 7)
    ref = reference_crop_flip(x, dy, dx, fl, p)
    assert torch.equal(out, ref)
    if flip:
        assert 0 < sum(fl) < shape[0]  # both cases are exercised


def test_crop_fill_and_determinism():
    x = torch.rand(32, 3, 8, 8)
    aug = BatchAugment(crop_padding=3, flip=True, fill=-1.0)
    a = aug(x, torch.Generator().manual_seed(1))
    b = aug(x, torch.Generator().manual_seed(1))
    c = aug(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (a == -1.0).any()  # padding value appears in shifted crops
    # Every output pixel is an input pixel or the fill value.
    vals = set(x.flatten().tolist()) | {-1.0}
    assert set(a.flatten().tolist()) <= vals


def test_mixup():
    x = torch.rand(10, 3, 4, 4)
    y = torch.arange(10)
    aug = BatchAugment(crop_padding=0, flip=False, mixup_alpha=0.4)
    xm, ya, yb, lam = aug.mixup(x, y, torch.Generator().manual_seed(3))
    assert 0.0 <= lam <= 1.0 and torch.equal(ya, y)
    perm = yb  # labels are arange, so y_b is the permutation itself
    assert sorted(perm.tolist()) == list(range(10))
    torch.testing.assert_close(xm, lam * x + (1 - lam) * x[perm])
    xm2, _, yb2, lam2 = aug.mixup(x, y, torch.Generator().manual_seed(3))
    assert lam2 == lam and torch.equal(yb2, yb) and torch.equal(xm2, xm)
    x0, _ya0, yb0, lam0 = BatchAugment(mixup_alpha=0.0).mixup(x, y)
    assert x0 is x and lam0 == 1.0 and torch.equal(yb0, y)


def test_to_float_tensor():
    imgs = np.random.default_rng(0).integers(0, 256, (4, 5, 6, 3), dtype=np.uint8)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 0.2)
    x = to_float_tensor(imgs, mean, std)
    ref = (imgs.astype(np.float64) / 255 - np.array(mean)) / np.array(std)
    assert x.shape == (4, 3, 5, 6) and x.dtype == torch.float32 and x.is_contiguous()
    np.testing.assert_allclose(x.numpy(), ref.transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-5)
    xc = to_float_tensor(imgs, mean, std, channels_last=True)
    assert xc.is_contiguous(memory_format=torch.channels_last) and torch.equal(xc, x)


def _dataset(n=50, k=5):
    rng = np.random.default_rng(1)
    imgs = rng.integers(1, 256, (n, 6, 6, 3), dtype=np.uint8)  # no 0: padding is the only black
    return ImageDataset(
        imgs, np.arange(n) % k, [str(i) for i in range(k)], (0.5,) * 3, (0.25,) * 3, "t"
    )


def test_loader_covers_epoch_and_is_reproducible():
    ds = _dataset()
    loader = InMemoryLoader(ds, batch_size=16, shuffle=True, seed=4)
    assert len(loader) == 4
    batches = list(loader)
    ys = torch.cat([y for _, y in batches])
    xs = torch.cat([x for x, _ in batches])
    assert xs.shape == (50, 3, 6, 6) and ys.dtype == torch.int64
    # Each image exactly once, normalised with the dataset's constants.
    ref = (ds.images.astype(np.float32) / 255 - 0.5) / 0.25
    ref = torch.from_numpy(ref.transpose(0, 3, 1, 2))
    match = [int(torch.nonzero((ref - x).abs().amax(dim=(1, 2, 3)) < 1e-5)[0]) for x in xs]
    assert sorted(match) == list(range(50))
    assert torch.equal(ys, torch.from_numpy(ds.labels[match]))
    # Epoch 1 differs from epoch 0; set_epoch(0) replays epoch 0; a new loader replays too.
    second = torch.cat([y for _, y in loader])
    assert loader.epoch == 2
    loader.set_epoch(0)
    assert torch.equal(torch.cat([y for _, y in loader]), ys)
    other = InMemoryLoader(ds, batch_size=16, shuffle=True, seed=4)
    assert torch.equal(torch.cat([y for _, y in other]), ys)
    assert not torch.equal(second, ys)


def test_loader_drop_last_shards_and_augment():
    ds = _dataset()
    loader = InMemoryLoader(ds, batch_size=16, drop_last=True, shuffle=False)
    assert len(loader) == 3 and all(x.shape[0] == 16 for x, _ in loader)
    # Two ranks partition the data (one sample repeated to even out 51 = 26 + 26 - 1).
    imgs51 = np.zeros((51, 2, 2, 1), np.uint8)
    ds51 = ImageDataset(imgs51, np.arange(51), [str(i) for i in range(51)], (0.5,), (0.5,), "u")
    parts = [InMemoryLoader(ds51, batch_size=4, rank=r, world_size=2, seed=1) for r in (0, 1)]
    assert len(parts[0]) == len(parts[1]) == 7
    ys = [torch.cat([y for _, y in part]).tolist() for part in parts]
    assert len(ys[0]) == len(ys[1]) == 26
    assert set(ys[0]) | set(ys[1]) == set(range(51))  # every sample, one of them twice
    # Evaluation (no shuffle): every sample exactly once, in order across ranks.
    ev = [InMemoryLoader(ds51, batch_size=4, shuffle=False, rank=r, world_size=2) for r in (0, 1)]
    got = [torch.cat([y for _, y in part]).tolist() for part in ev]
    assert got == [list(range(0, 51, 2)), list(range(1, 51, 2))]
    aug = BatchAugment(crop_padding=2, flip=True)
    a = [x for x, _ in InMemoryLoader(ds, batch_size=16, augment=aug, seed=9)]
    b = [x for x, _ in InMemoryLoader(ds, batch_size=16, augment=aug, seed=9)]
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    # Black padding: padded pixels normalise to (0 - mean) / std = -2.
    assert any((x == -2.0).any() for x in a)


def test_uint8_augment_equals_float_augment_and_threads_restored():
    u8 = torch.randint(0, 256, (12, 3, 7, 7), dtype=torch.uint8)
    aug = BatchAugment(crop_padding=3)
    a = aug(u8, torch.Generator().manual_seed(5)).float() / 255
    b = aug(u8.float() / 255, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    before = torch.get_num_threads()
    list(InMemoryLoader(_dataset(), batch_size=16, augment=aug, data_threads=1))
    assert torch.get_num_threads() == before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    ds = _dataset()
    aug = BatchAugment(crop_padding=2, flip=True, mixup_alpha=0.3)
    cpu = list(InMemoryLoader(ds, batch_size=16, augment=aug, seed=3))
    gpu = list(InMemoryLoader(ds, batch_size=16, augment=aug, seed=3, device="cuda"))
    for (xc, yc), (xg, yg) in zip(cpu, gpu):
        assert xg.is_cuda and yg.is_cuda
        torch.testing.assert_close(xg.cpu(), xc)
        assert torch.equal(yg.cpu(), yc)
    x = torch.rand(8, 3, 5, 5, device="cuda")
    y = torch.arange(8, device="cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    out = aug(x, g)
    assert out.is_cuda
    xm, _ya, yb, _lam = aug.mixup(x, y, g)
    assert xm.is_cuda and yb.is_cuda
    t = to_float_tensor(ds.images[:4], ds.mean, ds.std, device="cuda")
    torch.testing.assert_close(t.cpu(), to_float_tensor(ds.images[:4], ds.mean, ds.std))
