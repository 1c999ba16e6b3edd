"""Kaggle Carvana Image Masking Challenge -> folder layout.

Native layout (``train.zip`` + ``train_masks.zip`` unpacked into SRC)::

    train/<car id>_<view 01..16>.jpg
    train_masks/<car id>_<view>_mask.gif      P/L-mode, 0 = background, 1 (or 255) = car

Masks become 0/255 grey PNGs (``data.mask_format=binary``, K = 2). ``test_fraction``
holds out a seeded share of the *cars* (all 16 views of a car go to the same side), so
the test split never shows a car seen in training; the Kaggle test set has no masks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from src.data.recipes.common import (RecipeError, RecipeReport, holdout_groups, probe_image, require_dir,
                                     save_index_mask, split_dirs, write_image)

CLASS_NAMES = ("background", "car")


def car_id(stem: str) -> str:
    """``00087a6bd4dc_01`` -> ``00087a6bd4dc`` (the view number is the last ``_`` field)."""
    return stem.rsplit("_", 1)[0] if "_" in stem else stem


def read_gif_mask(path: Path) -> np.ndarray:
    """(H, W) uint8 0/255 from a Carvana GIF; raises RecipeError on other values."""
    with Image.open(path) as m:
        if m.mode not in ("P", "L", "1"):
            raise RecipeError(f"mask {path.name} is mode {m.mode}, expected a single-channel GIF")
        arr = np.asarray(m.convert("L") if m.mode == "1" else m)
    values = np.unique(arr)
    if np.isin(values, (0, 1)).all():
        return arr.astype(np.uint8) * 255
    if np.isin(values, (0, 255)).all():
        return arr.astype(np.uint8)
    raise RecipeError(f"mask values {values[:8].tolist()} are neither 0/1 nor 0/255")


def prepare_carvana(src: Path, out: Path, *, progress: bool = True, test_fraction: float = 0.1, seed: int = 0,
                    **_: object) -> RecipeReport:
    src = Path(src)
    img_root = require_dir(src / "train", "train/ (from train.zip)")
    mask_root = require_dir(src / "train_masks", "train_masks/ (from train_masks.zip)")
    report = RecipeReport("carvana", Path(out))
    images = sorted(p for p in img_root.iterdir() if p.suffix.lower() == ".jpg" and not p.name.startswith("."))
    if not images:
        raise RecipeError(f"no .jpg images in {img_root}")
    test_cars = holdout_groups([car_id(p.stem) for p in images], test_fraction, seed)
    for img in tqdm(images, desc="carvana", disable=not progress):
        mask_path = mask_root / f"{img.stem}_mask.gif"
        if not mask_path.is_file():
            report.skip(img.stem, "no train_masks/<stem>_mask.gif")
            continue
        split = "test" if car_id(img.stem) in test_cars else "train"
        try:
            size, _, _ = probe_image(img)
            mask = read_gif_mask(mask_path)
            if (mask.shape[1], mask.shape[0]) != size:
                raise RecipeError("mask size differs from the image size")
            img_dir, out_mask_dir = split_dirs(Path(out), split)
            write_image(img, img_dir, img.stem, report)
        except RecipeError as e:
            report.skip(img.stem, str(e))
            continue
        save_index_mask(mask, out_mask_dir / f"{img.stem}.png")
        report.written[split] += 1
    if test_cars:
        report.notes.append(f"{len(test_cars)} of {len({car_id(p.stem) for p in images})} cars held out in test/")
    return report
