"""PASCAL VOC 2012 segmentation -> folder layout.

Native layout (``VOCtrainval_11-May-2012.tar`` unpacked; SRC may be ``VOCdevkit/VOC2012``
or the folder above ``VOCdevkit``)::

    JPEGImages/<id>.jpg
    SegmentationClass/<id>.png                 P-mode: palette index = class id 0..20, 255 = void
    ImageSets/Segmentation/{train,val}.txt     one <id> per line

Output: ``OUT/train`` and ``OUT/val``. Masks are copied byte for byte (their palette is
VOC's), so ``data.mask_format=palette`` reads the class ids. Void (255: object boundaries
and hard regions) stays 255 = ``data.ignore_index``: the loss and the metrics skip those
pixels, which is the VOC evaluation protocol (the official devkit does not score void).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from src.data.recipes.common import RecipeError, RecipeReport, probe_image, require_dir, split_dirs, write_image

CLASS_NAMES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
               "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
               "train", "tvmonitor")
VOID = 255
SPLITS = ("train", "val")


def find_root(src: Path) -> Path:
    """VOC2012 itself, whether SRC is it or an ancestor (VOCdevkit/ or the folder holding it)."""
    for cand in (src, src / "VOC2012", src / "VOCdevkit" / "VOC2012"):
        if (cand / "ImageSets" / "Segmentation").is_dir():
            return cand
    raise RecipeError(f"{src} is not a VOC2012 folder: no ImageSets/Segmentation under it, its VOC2012/ or "
                      "VOCdevkit/VOC2012/; pass --src .../VOCdevkit/VOC2012")


def prepare_voc(src: Path, out: Path, *, progress: bool = True, **_: object) -> RecipeReport:
    root = find_root(Path(src))
    img_root, mask_root = require_dir(root / "JPEGImages", "JPEGImages/"), require_dir(root / "SegmentationClass",
                                                                                        "SegmentationClass/")
    report = RecipeReport("voc", Path(out))
    lists = {s: root / "ImageSets" / "Segmentation" / f"{s}.txt" for s in SPLITS}
    missing = [str(p) for p in lists.values() if not p.is_file()]
    if missing:
        raise RecipeError(f"missing split list(s): {', '.join(missing)}")
    for split, list_path in lists.items():
        ids = [line.split()[0] for line in list_path.read_text().splitlines() if line.strip()]
        img_dir, mask_dir = split_dirs(Path(out), split)
        for id_ in tqdm(ids, desc=f"voc {split}", disable=not progress):
            img, mask = img_root / f"{id_}.jpg", mask_root / f"{id_}.png"
            if not img.is_file():
                report.skip(id_, f"listed in {split}.txt but JPEGImages/{id_}.jpg is missing")
                continue
            if not mask.is_file():
                report.skip(id_, f"listed in {split}.txt but SegmentationClass/{id_}.png is missing")
                continue
            try:
                size, _, _ = probe_image(img)
                with Image.open(mask) as m:
                    if m.mode != "P":
                        report.skip(id_, f"mask is mode {m.mode}, not a VOC palette PNG (P)")
                        continue
                    values = np.unique(np.asarray(m))
                    msize = m.size
            except RecipeError as e:
                report.skip(id_, str(e))
                continue
            if msize != size:
                report.skip(id_, "mask size differs from the image size")
                continue
            bad = values[(values >= len(CLASS_NAMES)) & (values != VOID)]
            if bad.size:
                report.skip(id_, f"mask values {bad.tolist()} are neither a class (0..20) nor void (255)")
                continue
            try:
                write_image(img, img_dir, id_, report)
            except RecipeError as e:
                report.skip(id_, str(e))
                continue
            shutil.copyfile(mask, mask_dir / f"{id_}.png")
            report.written[split] += 1
    report.notes.append("void (255) is kept as data.ignore_index: not trained on, not scored (VOC protocol)")
    return report
