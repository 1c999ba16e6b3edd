"""Folder dataset: users' own image/mask pairs.

Layout::

    DIR/images/<stem>.png|.jpg|.jpeg     RGB or grey images, 8-bit; grey PNGs may be 16-bit
    DIR/masks/<stem>.png                 one mask per image, same width and height

Images are read as the viewer shows them: a JPEG's EXIF orientation tag is applied
(``ImageOps.exif_transpose``), since masks are drawn on the displayed photo. 8-bit
images become [0, 1] by /255. A 16-bit grey PNG (microscopy, medical) is kept at 16 bits
and scaled to [0, 1] per image by its own min..max, or by ``data.intensity_range``
(lo, hi) when set, so that every image of a dataset shares one scale.

``mask_format`` says how mask pixels become class ids:

    index    pixel value = class id (an 8-bit grey PNG, or a P-mode PNG read as indices)
    palette  a VOC-style P-mode PNG: the palette index is the class id, 255 = ignore
    binary   0/255 or 0/1 grey masks: 0 -> 0 (background), 255 or 1 -> 1 (foreground);
             any other value is an error naming the values found

K = 1 (one sigmoid logit) takes labels {0, 1}, like K = 2.

Every pair is checked when the dataset is built, so a broken folder fails before
training starts, with a message naming the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


class FolderDatasetError(ValueError):
    """The folder does not hold a valid dataset; the message names the files and the fix."""


def list_pairs(root: Path) -> list[tuple[Path, Path]]:
    """Sorted (image, mask) paths under ``root``; errors name missing folders and images without masks."""
    img_dir, mask_dir = root / "images", root / "masks"
    if not img_dir.is_dir() or not mask_dir.is_dir():
        raise FolderDatasetError(
            f"{root} must contain 'images/' and 'masks/' folders (see README 'Your own data'); "
            f"found: {sorted(p.name for p in root.iterdir()) if root.is_dir() else 'no such folder'}")
    images = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not images:
        raise FolderDatasetError(f"no images (.png/.jpg/.jpeg) in {img_dir}; the dataset is empty")
    pairs, missing = [], []
    for img in images:
        mask = mask_dir / f"{img.stem}.png"
        (pairs.append((img, mask)) if mask.is_file() else missing.append(img.name))
    if missing:
        shown = ", ".join(missing[:20]) + (f" ... ({len(missing)} in all)" if len(missing) > 20 else "")
        raise FolderDatasetError(f"{len(missing)} image(s) in {img_dir} have no mask {mask_dir}/<stem>.png: {shown}")
    return pairs


# Pillow modes holding one high-bit-depth grey channel (16-bit PNGs open as I;16 or I).
HIGH_BIT_GREY_MODES = ("I;16", "I;16B", "I;16L", "I")
EIGHT_BIT_MODES = ("1", "L", "P", "RGB", "LA", "RGBA")


def read_image(path: Path, intensity_range: tuple[float, float] | None = None) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1], upright (EXIF orientation applied); see the module doc for 16-bit."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in HIGH_BIT_GREY_MODES:
            arr = np.asarray(im, dtype=np.float64)  # (H, W), 0..65535
            lo, hi = intensity_range if intensity_range else (float(arr.min()), float(arr.max()))
            if hi <= lo:
                if intensity_range:
                    raise FolderDatasetError(f"data.intensity_range {intensity_range} needs low < high")
                return np.zeros((*arr.shape, 3), np.float32)  # a constant image
            grey = np.clip((arr - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
            return np.repeat(grey[..., None], 3, axis=-1)
        if im.mode not in EIGHT_BIT_MODES:
            raise FolderDatasetError(
                f"{path}: image mode {im.mode} is not supported; use 8-bit RGB/grey images or 16-bit grey PNGs")
        if im.mode in ("LA", "RGBA") and np.asarray(im)[..., -1].min() < 255:
            raise FolderDatasetError(
                f"{path}: the image has transparent pixels (mode {im.mode}); flatten it onto a background first")
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def image_size(path: Path) -> tuple[int, int]:
    """(W, H) of the image as read by :func:`read_image` (after the EXIF rotation)."""
    with Image.open(path) as im:
        w, h = im.size
        orientation = im.getexif().get(0x0112, 1)  # 5..8 rotate by 90 or 270 degrees
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def read_mask(path: Path, mask_format: str) -> np.ndarray:
    """(H, W) int64 class ids (``ignore_index`` left as is) for ``mask_format``."""
    with Image.open(path) as im:
        if mask_format == "palette":
            if im.mode != "P":
                raise FolderDatasetError(
                    f"{path}: data.mask_format=palette needs a P-mode (palette) PNG, got mode {im.mode}; "
                    "use data.mask_format=index for grey masks holding class ids")
            return np.asarray(im).astype(np.int64)
        if mask_format == "index":
            if im.mode not in ("L", "P", "I", "I;16"):
                raise FolderDatasetError(
                    f"{path}: data.mask_format=index needs a single-channel PNG of class ids, got mode {im.mode}; "
                    "save the mask as 8-bit grey, or use data.mask_format=binary for 0/255 masks")
            return np.asarray(im).astype(np.int64)
        if mask_format == "binary":
            if im.mode not in ("1", "L", "P", "I", "I;16"):
                raise FolderDatasetError(
                    f"{path}: data.mask_format=binary needs a single-channel 0/255 or 0/1 PNG, got mode {im.mode}")
            arr = np.asarray(im.convert("L") if im.mode == "1" else im).astype(np.int64)
            values = np.unique(arr)
            if np.isin(values, (0, 255)).all():
                return (arr == 255).astype(np.int64)
            if np.isin(values, (0, 1)).all():
                return arr
            raise FolderDatasetError(
                f"{path}: data.mask_format=binary takes masks of 0/255 or 0/1, found values {values[:10].tolist()}"
                f"{' ...' if values.size > 10 else ''}; use data.mask_format=index for class-id masks")
    raise FolderDatasetError(f"unknown data.mask_format {mask_format!r}; use index, palette or binary")


def read_palette(path: Path) -> list[int] | None:
    """The 768-value RGB palette of a P-mode PNG (what palette masks are written back with), else None."""
    with Image.open(path) as im:
        if im.mode != "P":
            return None
        pal = list(im.getpalette() or [])
    return (pal + [0] * 768)[:768]


def default_palette() -> list[int]:
    """PASCAL VOC's colour map (class c gets the bits of c spread over R, G, B); 255 stays white-ish."""
    pal = []
    for c in range(256):
        r = g = b = 0
        for k in range(8):
            r |= ((c >> 0) & 1) << (7 - k)
            g |= ((c >> 1) & 1) << (7 - k)
            b |= ((c >> 2) & 1) << (7 - k)
            c >>= 3
        pal += [r, g, b]
    return pal


def write_mask(path: Path, labels: np.ndarray, mask_format: str, palette: list[int] | None = None) -> None:
    """Save (H, W) class ids so that ``read_mask(path, mask_format)`` gives them back.

    index: 8-bit grey, pixel = class id. palette: P-mode PNG with ``palette`` (the training
    masks' palette; VOC's colour map when None). binary: 0/255 grey (class 1 -> 255).
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"a mask is (H, W) class ids, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError(f"class ids {labels.min()}..{labels.max()} do not fit an 8-bit mask PNG")
    if mask_format == "binary":
        if labels.size and labels.max() > 1:
            raise ValueError(f"data.mask_format=binary masks hold classes 0 and 1, got up to {labels.max()}")
        Image.fromarray((labels * 255).astype(np.uint8), mode="L").save(path)
    elif mask_format == "palette":
        im = Image.fromarray(labels.astype(np.uint8), mode="L").convert("P")  # P keeps the bytes as indices
        im.putpalette(palette if palette else default_palette())
        im.save(path)
    elif mask_format == "index":
        Image.fromarray(labels.astype(np.uint8), mode="L").save(path)
    else:
        raise FolderDatasetError(f"unknown data.mask_format {mask_format!r}; use index, palette or binary")


class FolderDataset(Dataset):
    """Image/mask pairs from ``root``; item ``i`` = (image (3,H,W) float32, mask (H,W) int64).

    Args:
        root: the dataset folder (holding ``images/`` and ``masks/``).
        num_classes: K; mask values must be < K or equal ``ignore_index``.
        mask_format: ``index | palette | binary``.
        indices: use only these pairs (sorted order), e.g. one side of a train/val split.
        intensity_range: (lo, hi) to scale 16-bit grey images by; None = each image's min..max.
        transform: ``t(image, mask, rng)``; its rng depends on (seed, index, epoch).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        num_classes: int,
        mask_format: str = "index",
        ignore_index: int = 255,
        indices: list[int] | None = None,
        transform: Callable | None = None,
        seed: int = 0,
        intensity_range: tuple[float, float] | None = None,
    ) -> None:
        self.root = Path(root)
        all_pairs = list_pairs(self.root)
        self.pairs = [all_pairs[i] for i in indices] if indices is not None else all_pairs
        self.num_classes, self.mask_format, self.ignore_index = num_classes, mask_format, ignore_index
        self.transform, self.seed, self.epoch = transform, seed, 0
        self.intensity_range = tuple(intensity_range) if intensity_range else None
        self._check_pairs()
        # Palette masks are written back (infer.py) with the training masks' palette.
        self.palette = read_palette(self.pairs[0][1]) if mask_format == "palette" and self.pairs else None

    def _check_pairs(self) -> None:
        """Fail now, naming the file, on a size mismatch or an out-of-range mask value."""
        for img_path, mask_path in self.pairs:
            img_size = image_size(img_path)  # (W, H), upright
            mask = read_mask(mask_path, self.mask_format)
            if (mask.shape[1], mask.shape[0]) != img_size:
                raise FolderDatasetError(
                    f"size mismatch for '{img_path.stem}': image {img_path.name} is {img_size[0]}x{img_size[1]} "
                    f"(WxH) but mask {mask_path.name} is {mask.shape[1]}x{mask.shape[0]}; masks must match their image")
            values = np.unique(mask)
            n_labels = max(self.num_classes, 2)  # K = 1 is binary: labels 0 and 1
            bad = values[(values >= n_labels) & (values != self.ignore_index)]
            if bad.size:
                raise FolderDatasetError(
                    f"{mask_path}: mask values {bad.tolist()} are >= model.num_classes={self.num_classes} and are not "
                    f"data.ignore_index={self.ignore_index}; raise model.num_classes, fix the mask, or check "
                    f"data.mask_format (now {self.mask_format!r}; 0/255 masks need 'binary')")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        img_path, mask_path = self.pairs[index]
        image = torch.from_numpy(read_image(img_path, self.intensity_range).copy()).permute(2, 0, 1)  # (3, H, W)
        mask = torch.from_numpy(read_mask(mask_path, self.mask_format).copy())  # (H, W)
        if self.transform is not None:
            rng = np.random.default_rng([self.seed, index, self.epoch])
            image, mask = self.transform(image, mask, rng)
        return image, mask


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """A seeded shuffle of range(n) cut into (train, val); val gets round(n * val_fraction), at least 1."""
    if not 0.0 < val_fraction < 1.0:
        raise FolderDatasetError(f"data.val_fraction must be in (0, 1), got {val_fraction}; or set data.val_root")
    if n < 2:
        raise FolderDatasetError(f"need at least 2 image/mask pairs to split into train and val, found {n}")
    perm = np.random.default_rng(seed).permutation(n).tolist()
    n_val = min(max(1, round(n * val_fraction)), n - 1)
    return sorted(perm[n_val:]), sorted(perm[:n_val])
