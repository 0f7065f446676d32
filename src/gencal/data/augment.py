"""Batch augmentation on the tensor's device: random crop with padding, horizontal flip, mixup.

Everything operates on whole batches ``[B, C, H, W]`` with an explicit ``torch.Generator``, so a
run is reproducible from its seed and no per-sample Python loop or worker process is needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from gencal._checks import GencalInputError

__all__ = ["BatchAugment", "normalize_", "to_float_tensor"]


def _as_uint8_tensor(
    images: np.ndarray | torch.Tensor, device: torch.device | str | None
) -> torch.Tensor:
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, torch.Tensor):
        raise GencalInputError(
            f"images: expected a numpy array or tensor, got {type(images).__name__}"
        )
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise GencalInputError(
            f"images: expected uint8 [B, H, W, C], got {images.dtype} {tuple(images.shape)}"
        )
    return images if device is None else images.to(device, non_blocking=True)


def _affine(
    c: int, mean: Sequence[float] | None, std: Sequence[float] | None, dtype, device
) -> tuple[torch.Tensor, torch.Tensor]:
    """``scale, shift`` with ``(v / 255 - mean) / std == v * scale - shift`` per channel."""
    mean = [0.0] * c if mean is None else list(mean)
    std = [1.0] * c if std is None else list(std)
    if len(mean) != c or len(std) != c:
        raise GencalInputError(f"mean/std: expected {c} values, got {len(mean)}/{len(std)}")
    scale = torch.tensor([1.0 / (255.0 * s) for s in std], dtype=dtype, device=device)
    shift = torch.tensor([m / s for m, s in zip(mean, std)], dtype=dtype, device=device)
    return scale.view(1, c, 1, 1), shift.view(1, c, 1, 1)


def normalize_(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """In place ``x[:, c] = (x[:, c] - mean[c]) / std[c]`` for a float ``[B, C, H, W]`` tensor.

    Args:
        x: float images, modified in place.
        mean: one value per channel, in the units of ``x``.
        std: one positive value per channel.

    Shape:
        ``x``: ``[B, C, H, W]``; ``mean``, ``std``: ``C`` values.

    Returns:
        ``x`` itself.

    Raises:
        GencalInputError: ``mean`` or ``std`` do not have ``C`` values.

    Example:
        >>> import torch
        >>> x = torch.full((1, 2, 1, 1), 0.5)
        >>> normalize_(x, mean=[0.5, 0.25], std=[0.5, 0.25]).flatten().tolist()
        [0.0, 1.0]
    """
    c = x.shape[1]
    if len(mean) != c or len(std) != c:
        raise GencalInputError(f"mean/std: expected {c} values, got {len(mean)}/{len(std)}")
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, c, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, c, 1, 1)
    return x.sub_(m).div_(s)


def uint8_nchw_to_float(
    u8: torch.Tensor,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
) -> torch.Tensor:
    """uint8 ``[B, C, H, W]`` -> float ``(v / 255 - mean) / std`` in one fused multiply-add.

    Computed as ``v * scale - shift`` with ``scale = 1 / (255 std)``, ``shift = mean / std``.

    Args:
        u8: uint8 images (on any device; the result stays there).
        mean: per channel in [0, 1] units; ``None`` counts as 0.
        std: per channel in [0, 1] units; ``None`` counts as 1 (both ``None``: values in [0, 1]).
        dtype: floating dtype of the result.
        channels_last: return the tensor in ``torch.channels_last`` memory format.

    Shape:
        ``u8``: ``[B, C, H, W]``; the result has the same shape.

    Returns:
        A new float tensor.

    Example:
        >>> import torch
        >>> u8 = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 3)
        >>> [round(v, 4) for v in uint8_nchw_to_float(u8).flatten().tolist()]
        [0.0, 0.2, 1.0]
        >>> [round(v, 4) for v in uint8_nchw_to_float(u8, mean=[0.5], std=[0.5]).flatten().tolist()]
        [-1.0, -0.6, 1.0]
    """
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = u8.to(dtype).contiguous(memory_format=fmt)
    if mean is None and std is None:
        return x.div_(255.0)
    scale, shift = _affine(x.shape[1], mean, std, dtype, x.device)
    return x.mul_(scale).sub_(shift)


def to_float_tensor(
    images: np.ndarray | torch.Tensor,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    device: torch.device | str | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
) -> torch.Tensor:
    """uint8 ``[B, H, W, C]`` -> float ``[B, C, H, W]``: ``(v / 255 - mean) / std``.

    The uint8 data is moved to ``device`` first (a quarter of the bytes of the float result),
    then converted there by :func:`uint8_nchw_to_float`.

    Args:
        images: uint8 images, a numpy array or a tensor.
        mean: per channel in [0, 1] units; ``None`` counts as 0.
        std: per channel in [0, 1] units; ``None`` counts as 1 (both ``None``: values in [0, 1]).
        device: where the result lives (``None``: where ``images`` are; numpy: the CPU).
        dtype: floating dtype of the result.
        channels_last: return the tensor in ``torch.channels_last`` memory format (what
            ``docs/models.md`` measures for training speed).

    Shape:
        ``images``: ``[B, H, W, C]``; the result: ``[B, C, H, W]``.

    Returns:
        A new float tensor.

    Raises:
        GencalInputError: ``images`` is not a uint8 array or tensor with 4 dimensions.

    Example:
        >>> images = np.zeros((2, 4, 4, 3), dtype=np.uint8)
        >>> images[..., 0] = 255  # red
        >>> x = to_float_tensor(images)
        >>> tuple(x.shape), x[0, :, 0, 0].tolist()
        ((2, 3, 4, 4), [1.0, 0.0, 0.0])
        >>> to_float_tensor(images, mean=[0.5] * 3, std=[0.5] * 3)[0, :, 0, 0].tolist()
        [1.0, -1.0, -1.0]
    """
    u8 = _as_uint8_tensor(images, device)
    return uint8_nchw_to_float(
        u8.permute(0, 3, 1, 2), mean, std, dtype=dtype, channels_last=channels_last
    )


class BatchAugment:
    """Random crop (zero padding), horizontal flip and mixup for batches ``[B, C, H, W]``.

    Crop and flip work on any dtype (the loader applies them to uint8 images before the float
    conversion, so the padding is black as in torchvision); mixup needs floats.

    Crop: the batch is padded once by ``crop_padding`` pixels with ``fill`` and each image gets an
    offset ``(dy, dx)`` drawn uniformly from ``{0, ..., 2 * crop_padding}``; the output pixel
    ``(i, j)`` is padded pixel ``(i + dy, j + dx)`` (torchvision's ``RandomCrop(H, padding=p)``).
    Flip: with probability 1/2 per image the column index becomes ``W - 1 - j`` (applied in the same
    gather as the crop, selected with ``torch.where``). Apply it to [0, 1] data before normalising
    for black padding (what :class:`~gencal.data.InMemoryLoader` does), or set ``fill`` to the
    normalised value you want.

    Mixup (Zhang et al. 2018): one ``lam ~ Beta(alpha, alpha)`` per batch and a random permutation
    ``perm``; returns ``(lam * x + (1 - lam) * x[perm], y, y[perm], lam)``; the loss is then
    ``lam * L(out, y_a) + (1 - lam) * L(out, y_b)``.

    Random numbers come from ``generator`` (on any device; indices are moved to ``x``'s device).

    Args:
        crop_padding: ``p`` pixels of padding for the random crop (0: no crop).
        flip: random horizontal flips.
        mixup_alpha: ``alpha`` of mixup's Beta distribution (0: :meth:`mixup` returns its
            input).
        fill: value of the padding, in the units of the batch it is applied to.

    Shape:
        ``aug(x [B, C, H, W], generator)`` -> ``[B, C, H, W]`` (a new tensor; ``x`` itself when
        crop and flip are off); ``aug.mixup(x [B, ...], y [B], generator)`` ->
        ``(x_mixed [B, ...], y_a [B], y_b [B], lam)``.

    Raises:
        GencalInputError: a negative ``crop_padding`` or ``mixup_alpha``, or ``x`` not 4-D.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.arange(1.0, 17.0).view(1, 1, 4, 4).repeat(8, 1, 1, 1)
        >>> out = BatchAugment(crop_padding=0, flip=True)(x, g)  # flips only
        >>> all(torch.equal(o, x[0]) or torch.equal(o, x[0].flip(-1)) for o in out)
        True
        >>> out = BatchAugment(crop_padding=2, flip=False)(x, g)  # shifts by -2..2 pixels
        >>> tuple(out.shape), set(out.unique().tolist()) <= set(range(17))  # pixels of x, or 0
        ((8, 1, 4, 4), True)

        >>> aug = BatchAugment(mixup_alpha=1.0)
        >>> y = torch.arange(8)
        >>> x_mixed, y_a, y_b, lam = aug.mixup(x, y, g)
        >>> 0 < lam < 1, torch.equal(y_a, y), sorted(y_b.tolist()) == y.tolist()
        (True, True, True)
    """

    def __init__(
        self,
        crop_padding: int = 4,
        flip: bool = True,
        mixup_alpha: float = 0.0,
        fill: float = 0.0,
    ) -> None:
        if crop_padding < 0:
            raise GencalInputError(f"crop_padding: must be >= 0, got {crop_padding}")
        if mixup_alpha < 0:
            raise GencalInputError(f"mixup_alpha: must be >= 0, got {mixup_alpha}")
        self.crop_padding = int(crop_padding)
        self.flip = bool(flip)
        self.mixup_alpha = float(mixup_alpha)
        self.fill = float(fill)

    def __repr__(self) -> str:
        return (
            f"BatchAugment(crop_padding={self.crop_padding}, flip={self.flip}, "
            f"mixup_alpha={self.mixup_alpha}, fill={self.fill})"
        )

    @property
    def is_identity(self) -> bool:
        """True if crop/flip do nothing (mixup is separate, see :meth:`mixup`)."""
        return self.crop_padding == 0 and not self.flip

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Random crop + flip of a batch ``[B, C, H, W]``; returns a new tensor.

        Returns ``x`` itself when crop and flip are off or the batch is empty.
        """
        if x.ndim != 4:
            raise GencalInputError(f"x: expected a [B, C, H, W] batch, got shape {tuple(x.shape)}")
        if self.is_identity or x.shape[0] == 0:
            return x
        b, c, h, w = x.shape
        p = self.crop_padding
        gdev = generator.device if generator is not None else torch.device("cpu")
        if p > 0:
            off = torch.randint(0, 2 * p + 1, (2, b), generator=generator, device=gdev).to(x.device)
            dy, dx = off[0], off[1]
        else:
            dy = dx = torch.zeros(b, dtype=torch.long, device=x.device)
        cols = torch.arange(w, device=x.device)
        if self.flip:
            flip = (torch.rand(b, generator=generator, device=gdev) < 0.5).to(x.device)
            cols = torch.where(flip[:, None], (w - 1 - cols)[None, :], cols[None, :])  # [B, W]
        else:
            cols = cols.expand(b, w)
        rows = torch.arange(h, device=x.device)[None, :] + dy[:, None]  # [B, H]
        cols = cols + dx[:, None]
        hp, wp = h + 2 * p, w + 2 * p
        xp = F.pad(x, (p, p, p, p), value=self.fill) if p > 0 else x.contiguous()
        flat = (rows[:, :, None] * wp + cols[:, None, :]).reshape(b, 1, h * w).expand(b, c, h * w)
        out = torch.gather(xp.reshape(b, c, hp * wp), 2, flat).view(b, c, h, w)
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            out = out.contiguous(memory_format=torch.channels_last)
        return out

    def mixup(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """Mix a float batch: ``(x_mixed, y_a, y_b, lam)``; ``mixup_alpha == 0``: ``(x, y, y, 1.0)``."""
        if self.mixup_alpha <= 0 or x.shape[0] == 0:
            return x, y, y, 1.0
        gdev = generator.device if generator is not None else torch.device("cpu")
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=gdev).item())
        lam = float(np.random.default_rng(seed).beta(self.mixup_alpha, self.mixup_alpha))
        perm = torch.randperm(x.shape[0], generator=generator, device=gdev).to(x.device)
        mixed = x.mul(lam).add_(x[perm], alpha=1.0 - lam)
        return mixed, y, y[perm], lam
