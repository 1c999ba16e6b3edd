"""What every dataset recipe shares: the report of what was written and skipped, and writers.

A recipe turns a dataset's native download layout into our folder layout
(README "Your own data")::

    OUT/<split>/images/<stem>.<ext>    the image (copied byte for byte when it is a plain RGB/grey JPEG or PNG)
    OUT/<split>/masks/<stem>.png       class ids, in the mask_format the dataset's config names

Recipes never guess: a pair they cannot convert exactly (missing file, size mismatch,
unexpected mask values, unreadable image) is skipped and listed with its reason.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


class RecipeError(ValueError):
    """The source folder is not the dataset's native layout; the message names what is missing."""


@dataclass
class RecipeReport:
    """Counts written per split, skipped items with reasons, and explicit conversions."""

    dataset: str
    out: Path
    written: Counter = field(default_factory=Counter)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (item, reason)
    converted: list[tuple[str, str]] = field(default_factory=list)  # (item, what was done)
    notes: list[str] = field(default_factory=list)

    def skip(self, item: str, reason: str) -> None:
        self.skipped.append((item, reason))

    def summary(self, max_items: int = 20) -> str:
        """Human-readable lines: splits written, then every skip reason with a count and examples."""
        lines = [f"{self.dataset}: wrote " + (", ".join(f"{s} {n}" for s, n in sorted(self.written.items())) or "nothing")
                 + f" pairs under {self.out}"]
        for title, items in (("skipped", self.skipped), ("converted", self.converted)):
            if not items:
                continue
            by_reason: dict[str, list[str]] = {}
            for item, reason in items:
                by_reason.setdefault(reason, []).append(item)
            lines.append(f"{title} {len(items)}:")
            for reason, names in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
                shown = ", ".join(names[:max_items]) + (" ..." if len(names) > max_items else "")
                lines.append(f"  {len(names)} x {reason}: {shown}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        parent = path.parent
        found = sorted(p.name for p in parent.iterdir())[:20] if parent.is_dir() else "no such folder"
        raise RecipeError(f"expected {what} at {path}; {parent} holds: {found}")
    return path


def split_dirs(out: Path, split: str) -> tuple[Path, Path]:
    img_dir, mask_dir = out / split / "images", out / split / "masks"
    img_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    return img_dir, mask_dir


def probe_image(path: Path) -> tuple[tuple[int, int], str, str]:
    """((W, H), PIL mode, format) without decoding the pixels; raises RecipeError if unreadable."""
    try:
        with Image.open(path) as im:
            return im.size, im.mode, im.format or "?"
    except (UnidentifiedImageError, OSError) as e:
        raise RecipeError(f"unreadable image ({type(e).__name__})") from None


def write_image(src: Path, img_dir: Path, stem: str, report: RecipeReport) -> Path:
    """Copy a plain RGB/grey JPEG or PNG as it is; re-encode anything else (CMYK, RGBA, a PNG named
    .jpg) as an RGB PNG and record the conversion. Returns the written path."""
    _, mode, fmt = probe_image(src)
    ext = {"JPEG": ".jpg", "PNG": ".png"}.get(fmt)
    if ext is not None and mode in ("RGB", "L") and src.suffix.lower() in ((".jpg", ".jpeg") if ext == ".jpg" else (".png",)):
        dst = img_dir / f"{stem}{src.suffix.lower()}"
        shutil.copyfile(src, dst)
        return dst
    with Image.open(src) as im:
        if mode == "RGBA" and np.asarray(im)[..., 3].min() < 255:
            raise RecipeError("RGBA image with transparent pixels (what is behind them is unknown)")
        rgb = im.convert("RGB")
    dst = img_dir / f"{stem}.png"
    rgb.save(dst)
    report.converted.append((src.name, f"{fmt} {mode} re-encoded as an RGB PNG"))
    return dst


def save_index_mask(mask: np.ndarray, path: Path) -> None:
    """(H, W) integer class ids in [0, 255] -> 8-bit grey PNG (data.mask_format=index, or binary for 0/255)."""
    if mask.min() < 0 or mask.max() > 255:
        raise ValueError(f"mask values must be in 0..255, got {mask.min()}..{mask.max()}")
    Image.fromarray(mask.astype(np.uint8), mode="L").save(path)


def holdout_groups(groups: list[str], fraction: float, seed: int) -> set[str]:
    """A seeded ``fraction`` of the distinct ``groups`` (at least one when fraction > 0)."""
    distinct = sorted(set(groups))
    if fraction <= 0 or len(distinct) < 2:
        return set()
    if fraction >= 1:
        raise RecipeError(f"--test-fraction must be below 1, got {fraction}")
    n = min(max(1, round(len(distinct) * fraction)), len(distinct) - 1)
    perm = np.random.default_rng(seed).permutation(len(distinct))
    return {distinct[i] for i in perm[:n]}
