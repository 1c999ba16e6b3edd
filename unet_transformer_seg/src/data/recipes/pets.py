"""Oxford-IIIT Pet -> folder layout.

Native layout (``images.tar.gz`` + ``annotations.tar.gz`` unpacked into SRC)::

    images/<Breed_name>_<n>.jpg
    annotations/trimaps/<Breed_name>_<n>.png     values 1 = pet, 2 = background, 3 = border (not classified)
    annotations/trainval.txt, annotations/test.txt   "<name> <class id> <species> <breed id>" (# comments)

Output: ``OUT/trainval`` and ``OUT/test`` when the two lists exist, else everything in
``OUT/all``. Masks are 8-bit grey class ids (``data.mask_format=index``, K = 2):
0 = background, 1 = pet, and the trimap's border region (3) becomes 255 =
``data.ignore_index`` by default (``border="ignore"``): the annotators left it
unclassified, so it is neither trained on nor scored; ``border="pet"`` counts it as pet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from src.data.recipes.common import (RecipeError, RecipeReport, probe_image, require_dir, save_index_mask, split_dirs,
                                     write_image)

CLASS_NAMES = ("background", "pet")
IGNORE = 255
TRIMAP_VALUES = (1, 2, 3)  # pet, background, border


def trimap_to_mask(trimap: np.ndarray, border: str = "ignore") -> np.ndarray:
    """(H, W) trimap values 1/2/3 -> (H, W) class ids 0/1 (+ 255 for the border when ``border="ignore"``)."""
    if border not in ("ignore", "pet"):
        raise ValueError(f"border must be 'ignore' or 'pet', got {border!r}")
    lut = np.zeros(256, np.uint8)
    lut[1], lut[2], lut[3] = 1, 0, (IGNORE if border == "ignore" else 1)
    return lut[trimap]


def _read_list(path: Path) -> list[str]:
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def prepare_pets(src: Path, out: Path, *, progress: bool = True, border: str = "ignore", **_: object) -> RecipeReport:
    src = Path(src)
    img_root = require_dir(src / "images", "images/")
    tri_root = require_dir(src / "annotations" / "trimaps", "annotations/trimaps/")
    report = RecipeReport("pets", Path(out))
    lists = {s: src / "annotations" / f"{s}.txt" for s in ("trainval", "test")}
    if all(p.is_file() for p in lists.values()):
        splits = {s: _read_list(p) for s, p in lists.items()}
    else:
        stems = sorted(p.stem for p in img_root.iterdir() if p.suffix.lower() == ".jpg" and not p.name.startswith("."))
        splits = {"all": stems}
        report.notes.append("annotations/trainval.txt or test.txt not found: every image went to all/ "
                            "(hold out a split with data.val_fraction)")
    for split, stems in splits.items():
        img_dir, mask_dir = split_dirs(Path(out), split)
        for stem in tqdm(stems, desc=f"pets {split}", disable=not progress):
            img, tri = img_root / f"{stem}.jpg", tri_root / f"{stem}.png"
            if not img.is_file():
                report.skip(stem, "image images/<name>.jpg is missing")
                continue
            if not tri.is_file():
                report.skip(stem, "trimap annotations/trimaps/<name>.png is missing")
                continue
            try:
                size, _, _ = probe_image(img)
                with Image.open(tri) as t:
                    if t.mode not in ("L", "P"):
                        report.skip(stem, f"trimap is mode {t.mode}, not single-channel")
                        continue
                    trimap = np.asarray(t)
            except RecipeError as e:
                report.skip(stem, str(e))
                continue
            if (trimap.shape[1], trimap.shape[0]) != size:
                report.skip(stem, "trimap size differs from the image size")
                continue
            values = np.unique(trimap)
            bad = values[~np.isin(values, TRIMAP_VALUES)]
            if bad.size:
                report.skip(stem, f"trimap values {bad.tolist()} are not 1/2/3")
                continue
            try:
                write_image(img, img_dir, stem, report)
            except RecipeError as e:
                report.skip(stem, str(e))
                continue
            save_index_mask(trimap_to_mask(trimap, border), mask_dir / f"{stem}.png")
            report.written[split] += 1
    report.notes.append(f"trimap border (3) -> {'255 = data.ignore_index' if border == 'ignore' else 'pet (1)'}")
    return report
