"""Joint image + mask transforms, written on torch primitives.

Every transform is a callable ``t(image, mask, rng) -> (image, mask)`` where

    image: (3, H, W) float32 (in [0, 1] until Normalize)
    mask:  (H, W) int64 class ids (``ignore_index`` marks pixels without a label)
    rng:   np.random.Generator owned by the caller

Taking the generator as an argument (instead of a global RNG) makes augmentation a
pure function of the sample's seed: DataLoader workers and resumed runs see exactly
the same augmentations. Geometric transforms move image and mask together; photometric
ones touch the image only.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

Transform = Callable[[torch.Tensor, torch.Tensor, np.random.Generator], tuple[torch.Tensor, torch.Tensor]]


def resize_pair(image: torch.Tensor, mask: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize to ``size`` = (H', W'): antialiased bilinear for the image, nearest for the mask.

    Antialiasing: plain bilinear reads only the 2x2 source pixels around each output
    pixel, so a 4x downscale skips three of every four rows and thin structures alias
    or vanish. ``antialias=True`` widens the triangle filter to the scale factor (as
    PIL does), averaging every source pixel; when upscaling it equals plain bilinear.
    Masks stay nearest: averaging class ids would invent classes.

    ``nearest-exact`` samples the source pixel whose centre is nearest, the same
    pixel-centre convention as bilinear with ``align_corners=False``, so the two
    stay aligned (plain ``nearest`` is shifted by half a pixel when downscaling).
    """
    if tuple(image.shape[-2:]) == tuple(size):
        return image, mask
    image = resize_image(image[None], size)[0]  # (3, H', W')
    mask = F.interpolate(mask[None, None].float(), size=size, mode="nearest-exact")[0, 0].long()  # (H', W')
    return image, mask


def resize_image(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, C, H, W) float -> (B, C, H', W') by antialiased bilinear (see :func:`resize_pair`)."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)


class Resize:
    """Resize to a fixed (H, W)."""

    def __init__(self, size: int | tuple[int, int]) -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor, rng: np.random.Generator):
        return resize_pair(image, mask, self.size)


class RandomFlip:
    """Flip horizontally and/or vertically, each with probability ``p``."""

    def __init__(self, *, horizontal: bool = True, vertical: bool = True, p: float = 0.5) -> None:
        self.horizontal, self.vertical, self.p = horizontal, vertical, p

    def __call__(self, image: torch.Tensor, mask: torch.Tensor, rng: np.random.Generator):
        if self.horizontal and rng.random() < self.p:
            image, mask = image.flip(-1), mask.flip(-1)
        if self.vertical and rng.random() < self.p:
            image, mask = image.flip(-2), mask.flip(-2)
        return image, mask


class RandomRot90:
    """Rotate by k * 90 degrees, k uniform in {0, 1, 2, 3} (square inputs keep their size)."""

    def __call__(self, image: torch.Tensor, mask: torch.Tensor, rng: np.random.Generator):
        k = int(rng.integers(0, 4))
        return torch.rot90(image, k, dims=(-2, -1)), torch.rot90(mask, k, dims=(-2, -1))


class RandomScaleCrop:
    """Scale by s ~ U(scale_range), then crop (s > 1) or pad (s < 1) back to the input size.

    Padding fills the image with 0 and the mask with ``ignore_index``: padded pixels
    carry no label, so the loss and metrics skip them.
    """

    def __init__(self, scale_range: tuple[float, float], ignore_index: int = 255) -> None:
        lo, hi = scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"data.scale_range must satisfy 0 < low <= high, got {scale_range}")
        self.scale_range = (lo, hi)
        self.ignore_index = ignore_index

    def __call__(self, image: torch.Tensor, mask: torch.Tensor, rng: np.random.Generator):
        lo, hi = self.scale_range
        if lo == hi == 1.0:
            return image, mask
        _, h, w = image.shape
        s = float(rng.uniform(lo, hi))
        sh, sw = max(1, round(h * s)), max(1, round(w * s))
        image, mask = resize_pair(image, mask, (sh, sw))  # (3, sh, sw), (sh, sw)
        # Pad up to at least (h, w), then take a random (h, w) window.
        ph, pw = max(h - sh, 0), max(w - sw, 0)
        if ph or pw:
            top, left = int(rng.integers(0, ph + 1)), int(rng.integers(0, pw + 1))
            image = F.pad(image, (left, pw - left, top, ph - top), value=0.0)
            mask = F.pad(mask, (left, pw - left, top, ph - top), value=self.ignore_index)
        y0 = int(rng.integers(0, image.shape[-2] - h + 1))
        x0 = int(rng.integers(0, image.shape[-1] - w + 1))
        return image[:, y0:y0 + h, x0:x0 + w], mask[y0:y0 + h, x0:x0 + w]


class ColorJitter:
    """Random brightness, contrast and saturation, each a factor in [1 - s, 1 + s] (image only)."""

    def __init__(self, strength: float) -> None:
        self.strength = strength

    def __call__(self, image: torch.Tensor, mask: torch.Tensor, rng: np.random.Generator):
        s = self.strength
        if s <= 0:
            return image, mask
        b, c, sat = rng.uniform(1 - s, 1 + s, size=3)
        image = image * float(b)
        mean = image.mean()
        image = (image - mean) * float(c) + mean
        # ITU-R 601 luma: saturation blends each pixel with its own grey value.
        grey = (0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2])[None]  # (1, H, W)
        image = (image - grey) * float(sat) + grey
        return image.clamp(0.0, 1.0), mask


class Normalize:
    """(image - mean) / std per channel."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)  # (3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor, rng: np.random.Generator):
        return (image - self.mean) / self.std, mask


class Compose:
    """Apply transforms in order with one shared generator."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor, rng: np.random.Generator):
        for t in self.transforms:
            image, mask = t(image, mask, rng)
        return image, mask

    def __repr__(self) -> str:
        return f"Compose({[type(t).__name__ for t in self.transforms]})"


def build_transforms(data_cfg, *, train: bool, resize_to: int | None = None) -> Compose:
    """The pipeline for one split from a ``DataConfig``: [resize], [augment], normalise.

    ``resize_to`` (folder datasets) resizes every image to a square of that size first;
    augmentation runs only when ``train`` and ``data_cfg.augment`` are both true.
    """
    ts: list[Transform] = []
    if resize_to is not None:
        ts.append(Resize(resize_to))
    if train and data_cfg.augment:
        if data_cfg.hflip or data_cfg.vflip:
            ts.append(RandomFlip(horizontal=data_cfg.hflip, vertical=data_cfg.vflip))
        if data_cfg.rot90:
            ts.append(RandomRot90())
        if tuple(data_cfg.scale_range) != (1.0, 1.0):
            ts.append(RandomScaleCrop(tuple(data_cfg.scale_range), data_cfg.ignore_index))
        if data_cfg.color_jitter > 0:
            ts.append(ColorJitter(data_cfg.color_jitter))
    ts.append(Normalize(data_cfg.mean, data_cfg.std))
    return Compose(ts)
