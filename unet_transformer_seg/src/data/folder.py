"""Folder dataset: users' own image/mask pairs.

Layout::

    DIR/images/<stem>.png|.jpg|.jpeg     RGB (or grey) images
    DIR/masks/<stem>.png                 one mask per image, same width and height

``mask_format`` says how mask pixels become class ids:

    index    pixel value = class id (an 8-bit grey PNG, or a P-mode PNG read as indices)
    palette  a VOC-style P-mode PNG: the palette index is the class id, 255 = ignore
    binary   0 -> 0 (background), 255 -> 1 (foreground); values >= 128 count as 255

Every pair is checked when the dataset is built, so a broken folder fails before
training starts, with a message naming the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
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


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


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
            arr = np.asarray(im.convert("L"))
            return (arr >= 128).astype(np.int64)
    raise FolderDatasetError(f"unknown data.mask_format {mask_format!r}; use index, palette or binary")


class FolderDataset(Dataset):
    """Image/mask pairs from ``root``; item ``i`` = (image (3,H,W) float32, mask (H,W) int64).

    Args:
        root: the dataset folder (holding ``images/`` and ``masks/``).
        num_classes: K; mask values must be < K or equal ``ignore_index``.
        mask_format: ``index | palette | binary``.
        indices: use only these pairs (sorted order), e.g. one side of a train/val split.
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
    ) -> None:
        self.root = Path(root)
        all_pairs = list_pairs(self.root)
        self.pairs = [all_pairs[i] for i in indices] if indices is not None else all_pairs
        self.num_classes, self.mask_format, self.ignore_index = num_classes, mask_format, ignore_index
        self.transform, self.seed, self.epoch = transform, seed, 0
        self._check_pairs()

    def _check_pairs(self) -> None:
        """Fail now, naming the file, on a size mismatch or an out-of-range mask value."""
        for img_path, mask_path in self.pairs:
            with Image.open(img_path) as im:
                img_size = im.size  # (W, H)
            mask = read_mask(mask_path, self.mask_format)
            if (mask.shape[1], mask.shape[0]) != img_size:
                raise FolderDatasetError(
                    f"size mismatch for '{img_path.stem}': image {img_path.name} is {img_size[0]}x{img_size[1]} "
                    f"(WxH) but mask {mask_path.name} is {mask.shape[1]}x{mask.shape[0]}; masks must match their image")
            values = np.unique(mask)
            bad = values[(values >= self.num_classes) & (values != self.ignore_index)]
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
        image = torch.from_numpy(read_image(img_path).copy()).permute(2, 0, 1).float() / 255.0  # (3, H, W)
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
