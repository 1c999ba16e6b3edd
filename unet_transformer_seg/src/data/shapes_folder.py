"""Write toy shapes to disk as a folder dataset (what ``scripts/make_shapes.py`` does).

The folder loader then reads them like any user dataset, so the toy task also tests
the file path: PNG decoding, palette masks, ``data.root`` / ``data.val_root``. Layout::

    OUT/<split>/images/<split>_00000.png    RGB
    OUT/<split>/masks/<split>_00000.png     P-mode (palette) PNG: palette index = class id

Splits: ``train`` and ``val`` (pick ``best.pt``), ``test`` (same conditions, never seen
while training) and ``shifted`` (conditions unlike training: more shapes and stronger
noise), so a report can give in-distribution and shifted scores separately.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from src.data.toy_shapes import CLASS_NAMES, PALETTE, render_hard_sample, render_sample

SPLIT_IDS = {"train": 0, "val": 1, "test": 2, "shifted": 3}
# The shifted split: what changes relative to training (and nothing else).
SHIFTED = {"hard": dict(max_shapes=18, noise_std=0.12), "easy": dict(max_shapes=6, noise_std=0.1)}


def palette_bytes() -> list[int]:
    """A 256-entry flat RGB palette: the toy class colours first, the rest black."""
    pal = np.zeros((256, 3), np.uint8)
    pal[: len(PALETTE)] = PALETTE
    return pal.ravel().tolist()


def save_palette_mask(mask: np.ndarray, path: Path) -> None:
    """(H, W) class ids in [0, 255] -> P-mode PNG with :func:`palette_bytes`."""
    if mask.min() < 0 or mask.max() > 255:
        raise ValueError(f"palette masks hold values 0..255, got {mask.min()}..{mask.max()}")
    im = Image.fromarray(mask.astype(np.uint8), mode="P")
    im.putpalette(palette_bytes())
    im.save(path)


def render(split: str, index: int, *, hard: bool, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``index`` of ``split``: image (H, W, 3) uint8, mask (H, W) int64; a function of its arguments."""
    rng = np.random.default_rng([seed, SPLIT_IDS[split], index])
    extra = SHIFTED["hard" if hard else "easy"] if split == "shifted" else {}
    if hard:
        image, mask = render_hard_sample(rng, size=size, **extra)
    else:
        image, mask, _ = render_sample(rng, size=size, **extra)
    return (image * 255).round().astype(np.uint8), mask


def write_shapes_folder(
    out: str | Path,
    *,
    counts: dict[str, int],
    hard: bool = True,
    size: int = 128,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, int]:
    """Write ``counts[split]`` samples of each split under ``out``; returns the counts written."""
    out = Path(out)
    unknown = set(counts) - set(SPLIT_IDS)
    if unknown:
        raise ValueError(f"unknown split(s) {sorted(unknown)}; use {sorted(SPLIT_IDS)}")
    total = sum(counts.values())
    bar = tqdm(total=total, desc=f"writing {'hard' if hard else 'easy'} shapes to {out}", disable=not progress)
    for split, n in counts.items():
        (out / split / "images").mkdir(parents=True, exist_ok=True)
        (out / split / "masks").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            image, mask = render(split, i, hard=hard, size=size, seed=seed)
            stem = f"{split}_{i:05d}"
            Image.fromarray(image).save(out / split / "images" / f"{stem}.png")
            save_palette_mask(mask, out / split / "masks" / f"{stem}.png")
            bar.update(1)
    bar.close()
    (out / "classes.txt").write_text("\n".join(CLASS_NAMES) + "\n")
    return dict(counts)
