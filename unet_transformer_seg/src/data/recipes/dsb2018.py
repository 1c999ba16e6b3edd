"""2018 Data Science Bowl (nuclei) -> folder layout.

Native layout (``stage1_train.zip`` unpacked; SRC may be ``stage1_train/`` or the folder
holding it)::

    stage1_train/<id>/images/<id>.png      RGBA (alpha fully opaque) or grey
    stage1_train/<id>/masks/<k>.png        one 0/255 PNG per nucleus (instance)

The instances are merged (pixel-wise OR) into one binary mask written as 0/255 grey PNG
(``data.mask_format=binary``, K = 2). Images become RGB PNGs; an image whose alpha
channel is not fully opaque is skipped, since what lies behind transparent pixels is unknown.
``test_fraction`` moves a seeded share of the images to ``OUT/test`` (the stage-1 test
labels are not part of this download), the rest go to ``OUT/train``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from src.data.recipes.common import (RecipeError, RecipeReport, holdout_groups, probe_image, save_index_mask,
                                     split_dirs, write_image)

CLASS_NAMES = ("background", "nucleus")


def find_root(src: Path) -> Path:
    for cand in (src, src / "stage1_train"):
        if cand.is_dir() and any((d / "images").is_dir() for d in cand.iterdir() if d.is_dir()):
            return cand
    raise RecipeError(f"{src} is not a DSB2018 stage1_train folder: no <id>/images/ under it or under "
                      f"{src / 'stage1_train'}")


def merge_instances(paths: list[Path], size: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8 0/255: the union of the instance masks; raises RecipeError naming a bad one."""
    union = np.zeros((size[1], size[0]), bool)
    for p in paths:
        with Image.open(p) as m:
            if m.size != size:
                raise RecipeError(f"instance mask {p.name} is {m.size[0]}x{m.size[1]}, the image {size[0]}x{size[1]}")
            arr = np.asarray(m.convert("L")) if m.mode in ("1", "P") else np.asarray(m)
        if arr.ndim != 2:
            raise RecipeError(f"instance mask {p.name} has {arr.shape[2]} channels, expected a grey PNG")
        values = np.unique(arr)
        if not np.isin(values, (0, 255)).all() and not np.isin(values, (0, 1)).all():
            raise RecipeError(f"instance mask values {values[:8].tolist()} are neither 0/255 nor 0/1")
        union |= arr > 0
    return union.astype(np.uint8) * 255


def prepare_dsb2018(src: Path, out: Path, *, progress: bool = True, test_fraction: float = 0.1, seed: int = 0,
                    **_: object) -> RecipeReport:
    root = find_root(Path(src))
    report = RecipeReport("dsb2018", Path(out))
    ids = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    test_ids = holdout_groups(ids, test_fraction, seed)
    n_instances = 0
    for id_ in tqdm(ids, desc="dsb2018", disable=not progress):
        img, mask_dir = root / id_ / "images" / f"{id_}.png", root / id_ / "masks"
        if not img.is_file():
            report.skip(id_, "no images/<id>.png")
            continue
        instances = sorted(p for p in mask_dir.glob("*.png") if not p.name.startswith(".")) if mask_dir.is_dir() else []
        if not instances:
            report.skip(id_, "no masks/*.png (an unlabelled, e.g. stage-1 test, image)")
            continue
        try:
            size, _, _ = probe_image(img)
            mask = merge_instances(instances, size)
            img_dir, out_mask_dir = split_dirs(Path(out), "test" if id_ in test_ids else "train")
            write_image(img, img_dir, id_, report)
        except RecipeError as e:
            report.skip(id_, str(e))
            continue
        save_index_mask(mask, out_mask_dir / f"{id_}.png")
        n_instances += len(instances)
        report.written["test" if id_ in test_ids else "train"] += 1
    # RGBA -> RGB is the normal case here, not news: summarise it in one line.
    rgba = [c for c in report.converted if "RGBA" in c[1]]
    if rgba:
        report.converted = [c for c in report.converted if "RGBA" not in c[1]]
        report.notes.append(f"{len(rgba)} opaque RGBA images written as RGB PNGs (alpha dropped: it was all 255)")
    report.notes.append(f"{n_instances} instance masks merged into one 0/255 mask per image (data.mask_format=binary)")
    return report
