"""Toy shapes: a built-in, file-free segmentation dataset.

Each image holds 1..N filled shapes on a flat, gradient or textured background:

    class 0 = background, 1 = circle/ellipse, 2 = rectangle, 3 = triangle

Colours are drawn independently of the class, so a model has to recognise a shape
by its *form*; rectangles and triangles are rotated, ellipses have random axes.
Shapes are painted in order, so a later shape occludes an earlier one in the image
and in the mask alike. Edges are hard (no anti-aliasing): every mask pixel can be
read off the image, which is what makes a near-perfect Dice reachable.

Sample ``i`` of a split depends only on ``(seed, split, i)``: it is rendered from its
own ``np.random.Generator``, so splits are reproducible with no files on disk.

Hard mode (:func:`render_hard_sample`, ``--hard``): 128 px, textured and cluttered
backgrounds, patterned shapes, heavier occlusion; ``scripts/make_shapes.py --hard`` writes it
as a folder dataset with palette masks.

Preview: ``python -m src.data.toy_shapes --debug [--hard] [--size 128] [--out preview.png]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import Dataset

CLASS_NAMES = ("background", "circle", "rectangle", "triangle")
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}

# Every shape must keep at least this fraction of its pixels visible after all
# later shapes are painted; otherwise a sliver of a triangle (say) carries no
# information about its class and caps the reachable Dice.
_MIN_VISIBLE_FRACTION = 0.5
# Minimum RGB distance between a shape's colour and the background / other shapes,
# so every edge is visible through the noise.
_MIN_CONTRAST = 0.3


def _random_colour(rng: np.random.Generator, avoid: list[np.ndarray]) -> np.ndarray:
    """A colour at least _MIN_CONTRAST away from every colour in ``avoid`` (best of 20 tries)."""
    best, best_dist = None, -1.0
    for _ in range(20):
        c = rng.uniform(0.0, 1.0, size=3).astype(np.float32)
        dist = min((float(np.linalg.norm(c - a)) for a in avoid), default=np.inf)
        if dist >= _MIN_CONTRAST:
            return c
        if dist > best_dist:
            best, best_dist = c, dist
    return best  # type: ignore[return-value]


def _background(rng: np.random.Generator, size: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (image (H, W, 3), its mean colour (3,)) for a ``flat|gradient|texture`` background."""
    c0 = rng.uniform(0.0, 1.0, size=3).astype(np.float32)
    img = np.broadcast_to(c0, (size, size, 3)).copy()  # (H, W, 3)
    if kind in ("gradient", "texture"):
        c1 = np.clip(c0 + rng.uniform(-0.3, 0.3, size=3), 0.0, 1.0).astype(np.float32)
        angle = rng.uniform(0.0, 2 * np.pi)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
        t = np.cos(angle) * xx + np.sin(angle) * yy  # (H, W) position along the gradient
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        img = c0 + t[..., None] * (c1 - c0)  # (H, W, 3)
    if kind == "texture":
        # Two random plane waves: a low-contrast pattern that is not a shape edge.
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        tex = np.zeros((size, size), np.float32)
        for _ in range(2):
            freq = rng.uniform(0.1, 0.4)
            theta = rng.uniform(0.0, np.pi)
            tex += np.sin(freq * (np.cos(theta) * xx + np.sin(theta) * yy) + rng.uniform(0, 2 * np.pi))
        img = img + 0.04 * tex[..., None] * rng.uniform(0.5, 1.0, size=3).astype(np.float32)
    img = np.clip(img, 0.0, 1.0).astype(np.float32)
    return img, img.reshape(-1, 3).mean(0)


def _shape_cover(rng: np.random.Generator, cls: int, size: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Boolean (H, W) coverage of one random shape of class ``cls`` (vectorised point tests)."""
    r_min, r_max = 0.1 * size, 0.22 * size  # half-extent range in pixels
    cy, cx = rng.uniform(r_min, size - r_min, size=2)
    theta = rng.uniform(0.0, np.pi)
    # Coordinates in the shape's rotated frame (pixel centres at +0.5).
    dy, dx = yy + 0.5 - cy, xx + 0.5 - cx
    u = np.cos(theta) * dx + np.sin(theta) * dy
    v = -np.sin(theta) * dx + np.cos(theta) * dy
    if cls == 1:  # ellipse: (u/a)^2 + (v/b)^2 <= 1, aspect kept moderate so it stays "round"
        a = rng.uniform(r_min, r_max)
        b = a * rng.uniform(0.6, 1.0)
        return (u / a) ** 2 + (v / b) ** 2 <= 1.0
    if cls == 2:  # rectangle: |u| <= a and |v| <= b
        a = rng.uniform(r_min, r_max)
        b = a * rng.uniform(0.5, 1.0)
        return (np.abs(u) <= a) & (np.abs(v) <= b)
    # Triangle: vertices at jittered angles on a circle; inside = same side of all three edges.
    r = rng.uniform(r_min * 1.2, r_max * 1.2)
    angles = np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3]) + rng.uniform(-0.35, 0.35, size=3)
    px, py = r * np.cos(angles), r * np.sin(angles)
    signs = []
    for i in range(3):
        j = (i + 1) % 3
        # z-component of the cross product (edge i->j) x (point - vertex i)
        signs.append((px[j] - px[i]) * (v - py[i]) - (py[j] - py[i]) * (u - px[i]))
    s0, s1, s2 = signs
    return ((s0 >= 0) & (s1 >= 0) & (s2 >= 0)) | ((s0 <= 0) & (s1 <= 0) & (s2 <= 0))


def render_sample(
    rng: np.random.Generator,
    *,
    size: int = 64,
    min_shapes: int = 1,
    max_shapes: int = 4,
    noise_std: float = 0.05,
    background: str = "texture",
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Render one sample.

    Returns:
        image: (H, W, 3) float32 in [0, 1], H = W = ``size``.
        mask: (H, W) int64 class ids (0 = background).
        shapes: one dict per painted shape, in paint order: ``cls``, ``colour`` (3,),
            ``cover`` (H, W) bool (the full shape, before occlusion).
    """
    if size < 16:
        raise ValueError(f"toy shapes need image_size >= 16, got {size}; raise data.image_size")
    if not 1 <= min_shapes <= max_shapes:
        raise ValueError(f"need 1 <= data.min_shapes <= data.max_shapes, got {min_shapes} and {max_shapes}")
    image, bg_mean = _background(rng, size, background)  # (H, W, 3)
    owner = np.full((size, size), -1, np.int64)  # (H, W) index of the visible shape, -1 = background
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    shapes: list[dict[str, Any]] = []
    for _ in range(int(rng.integers(min_shapes, max_shapes + 1))):
        cls = int(rng.integers(1, 4))
        for _attempt in range(10):
            cover = _shape_cover(rng, cls, size, yy, xx)
            # Reject placements that would hide too much of an earlier shape.
            if all(((owner == k) & ~cover).sum() >= _MIN_VISIBLE_FRACTION * s["cover"].sum()
                   for k, s in enumerate(shapes)):
                break
        else:
            continue  # no room for this shape; the image gets fewer shapes
        colour = _random_colour(rng, [bg_mean] + [s["colour"] for s in shapes])
        # Paint: the newest shape wins every pixel it covers (occlusion), in image and mask.
        image[cover] = colour
        owner[cover] = len(shapes)
        shapes.append({"cls": cls, "colour": colour, "cover": cover})
    class_of = np.array([0] + [s["cls"] for s in shapes], np.int64)
    mask = class_of[owner + 1]  # (H, W) class ids
    if noise_std > 0:
        image = image + rng.normal(0.0, noise_std, size=image.shape).astype(np.float32)
    image = np.clip(image, 0.0, 1.0).astype(np.float32)
    return image, mask, shapes


# --------------------------------------------------------------------------- #
# Hard mode (``--hard``): what the easy task leaves out                        #
# --------------------------------------------------------------------------- #
# The easy task has flat-coloured shapes on a faint texture, so a colour edge is
# almost always a shape edge. Hard mode weakens that shortcut: the background carries
# strong multi-scale colour texture and a few clutter strokes (edges that are no shape),
# shapes are filled with a gradient or stripes of their own, come in more sizes and may
# hide up to 1 - _HARD_MIN_VISIBLE of themselves behind later ones. The mask is still
# exactly readable from the image (hard edges, no blur), so a high Dice stays reachable.
_HARD_MIN_VISIBLE = 0.4
_HARD_MIN_CONTRAST = 0.35
# Shapes keep their size in *pixels* as the image grows (as objects in a photo do): their
# half-extent is that of the easy task's shapes at this reference side, times
# U(_HARD_SCALE), i.e. about 5-17 px; a 128 px image then holds more of them, not bigger ones.
# Shapes up to 56 px across (the easy task's sizes scaled to 128 px) were tried first: a
# 0.5M-parameter U-Net had not learnt to tell them apart after 2500 steps, while the same
# network learnt 64 px-sized shapes tiled into 128 px images within a few hundred steps
# (docs/ABLATIONS.md, "Hard folder dataset").
_HARD_SHAPE_REF = 64
_HARD_SCALE = (0.75, 1.2)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """(H, W) value noise in [-1, 1]: a random ``cells`` x ``cells`` grid, bilinearly upsampled."""
    grid = rng.uniform(-1.0, 1.0, size=(cells + 1, cells + 1)).astype(np.float32)
    t = np.linspace(0.0, cells, size, dtype=np.float32)
    i0 = np.minimum(t.astype(np.int64), cells - 1)
    f = t - i0
    rows = grid[i0] * (1 - f)[:, None] + grid[i0 + 1] * f[:, None]  # (H, cells + 1)
    return rows[:, i0] * (1 - f)[None] + rows[:, i0 + 1] * f[None]  # (H, W)


def _hard_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(H, W, 3) gradient + two octaves of colour value noise + plane waves + clutter strokes."""
    img, _ = _background(rng, size, "gradient")
    for cells, amp in ((4, 0.18), (16, 0.08)):
        img = img + amp * np.stack([_smooth_noise(rng, size, cells) for _ in range(3)], -1)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    theta, freq = rng.uniform(0.0, np.pi), rng.uniform(0.2, 0.6)
    img = img + 0.06 * np.sin(freq * (np.cos(theta) * xx + np.sin(theta) * yy))[..., None]
    # Clutter: 0-2 straight strokes 1-3 px wide, labelled background. They make edges and
    # corners that belong to no shape, so "edge = shape" no longer works.
    for _ in range(int(rng.integers(0, 3))):
        (y0, x0), (y1, x1) = rng.uniform(0, size, size=(2, 2))
        d = np.hypot(y1 - y0, x1 - x0) + 1e-6
        dist = np.abs((x1 - x0) * (y0 - yy) - (x0 - xx) * (y1 - y0)) / d  # distance to the line
        t = ((xx - x0) * (x1 - x0) + (yy - y0) * (y1 - y0)) / d**2  # position along the segment
        img[(dist <= rng.uniform(0.5, 1.5)) & (t >= 0) & (t <= 1)] = rng.uniform(0.0, 1.0, size=3)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def _hard_fill(rng: np.random.Generator, colour: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) the paint of one shape: its colour plus stripes or a gradient of its own."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    theta = rng.uniform(0.0, np.pi)
    u = np.cos(theta) * xx + np.sin(theta) * yy
    if rng.random() < 0.3:
        pattern = np.sign(np.sin(u * rng.uniform(0.3, 0.9)))  # stripes
    else:
        pattern = (u - u.mean()) / (u.std() + 1e-6)  # a linear gradient
    amp = rng.uniform(0.02, 0.05)
    return (colour + amp * pattern[..., None] * rng.uniform(0.5, 1.0, size=3)).astype(np.float32)


def render_hard_sample(
    rng: np.random.Generator,
    *,
    size: int = 128,
    min_shapes: int = 4,
    max_shapes: int = 12,
    noise_std: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """One hard sample: image (H, W, 3) float32 in [0, 1], mask (H, W) int64 (classes as the easy task)."""
    if size < 64:
        raise ValueError(f"hard toy shapes need size >= 64 (they are meant for >= 128), got {size}")
    image = _hard_background(rng, size)  # (H, W, 3)
    owner = np.full((size, size), -1, np.int64)  # (H, W) index of the visible shape, -1 = background
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    covers, classes, colours = [], [], []
    for _ in range(int(rng.integers(min_shapes, max_shapes + 1))):
        cls = int(rng.integers(1, 4))
        for _attempt in range(10):
            # Draw on a full-size canvas, then shrink it by `scale` (fixed pixel sizes, see
            # _HARD_SHAPE_REF) and shift it anywhere that keeps it inside the image.
            scale = min(1.0, rng.uniform(*_HARD_SCALE) * _HARD_SHAPE_REF / size)
            oy, ox = rng.uniform(-1.0, 1.0, size=2) * (1 - scale) * size / 2
            cy, cx = (yy - size / 2 - oy) / scale + size / 2, (xx - size / 2 - ox) / scale + size / 2
            cover = _shape_cover(rng, cls, size, cy, cx)
            if cover.sum() < 30:
                continue
            if all(((owner == k) & ~cover).sum() >= _HARD_MIN_VISIBLE * c.sum() for k, c in enumerate(covers)):
                break
        else:
            continue
        local_mean = image[cover].mean(0)
        best, best_d = None, -1.0
        for _ in range(20):
            c = rng.uniform(0.0, 1.0, size=3).astype(np.float32)
            d = min(float(np.linalg.norm(c - a)) for a in [local_mean] + colours)
            if d > best_d:
                best, best_d = c, d
            if d >= _HARD_MIN_CONTRAST:
                break
        image[cover] = _hard_fill(rng, best, size)[cover]
        owner[cover] = len(covers)
        covers.append(cover)
        classes.append(cls)
        colours.append(best)
    mask = np.array([0] + classes, np.int64)[owner + 1]  # (H, W)
    image = image + rng.normal(0.0, noise_std, size=image.shape).astype(np.float32)
    return np.clip(image, 0.0, 1.0).astype(np.float32), mask


class ToyShapesDataset(Dataset):
    """``num_samples`` toy images of one split; item ``i`` = (image (3,H,W) float32, mask (H,W) int64).

    ``transform(image, mask, rng)`` is applied to the rendered tensors (image in [0, 1]).
    Its ``rng`` depends on (seed, split, index, epoch): call :meth:`set_epoch` each epoch
    to draw new augmentations while keeping every epoch reproducible (exact resume).
    """

    def __init__(
        self,
        *,
        num_samples: int,
        split: str = "train",
        seed: int = 1234,
        size: int = 64,
        min_shapes: int = 1,
        max_shapes: int = 4,
        noise_std: float = 0.05,
        background: str = "texture",
        transform: Callable | None = None,
    ) -> None:
        if split not in SPLIT_IDS:
            raise ValueError(f"split must be one of {sorted(SPLIT_IDS)}, got {split!r}")
        self.num_samples = num_samples
        self.split = split
        self.seed = seed
        self.render_kwargs = dict(size=size, min_shapes=min_shapes, max_shapes=max_shapes,
                                  noise_std=noise_std, background=background)
        self.transform = transform
        self.epoch = 0
        self.class_names = list(CLASS_NAMES)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def render(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The raw sample: image (H, W, 3) float32 in [0, 1], mask (H, W) int64."""
        rng = np.random.default_rng([self.seed, SPLIT_IDS[self.split], index])
        image, mask, _ = render_sample(rng, **self.render_kwargs)
        return image, mask

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        image, mask = self.render(index)
        image_t = torch.from_numpy(image).permute(2, 0, 1).contiguous()  # (3, H, W)
        mask_t = torch.from_numpy(mask)  # (H, W)
        if self.transform is not None:
            aug_rng = np.random.default_rng([self.seed, SPLIT_IDS[self.split], index, self.epoch, 1])
            image_t, mask_t = self.transform(image_t, mask_t, aug_rng)
        return image_t, mask_t


# A fixed palette for drawing masks (class 0 stays transparent in overlays).
PALETTE = np.array(
    [[0, 0, 0], [230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48], [145, 30, 180],
     [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212]], dtype=np.uint8)


def colourise(mask: np.ndarray, ignore_index: int = 255) -> np.ndarray:
    """(H, W) class ids -> (H, W, 3) uint8 colours; ignored pixels are white."""
    rgb = PALETTE[np.asarray(mask) % len(PALETTE)]  # (H, W, 3)
    rgb[np.asarray(mask) == ignore_index] = 255
    return rgb


def save_preview(path: str | Path, *, n: int = 8, size: int = 64, seed: int = 1234,
                 background: str = "texture", hard: bool = False) -> Path:
    """Write a 2-row grid PNG: images on top, coloured masks below (``hard``: :func:`render_hard_sample`)."""
    from PIL import Image

    ds = ToyShapesDataset(num_samples=n, split="train", seed=seed, size=size, background=background)
    pad = 2
    grid = np.full((2 * size + 3 * pad, n * size + (n + 1) * pad, 3), 255, np.uint8)
    for i in range(n):
        if hard:
            image, mask = render_hard_sample(np.random.default_rng([seed, SPLIT_IDS["train"], i]), size=size)
        else:
            image, mask = ds.render(i)
        x0 = pad + i * (size + pad)
        grid[pad:pad + size, x0:x0 + size] = (image * 255).round().astype(np.uint8)
        grid[2 * pad + size:2 * pad + 2 * size, x0:x0 + size] = colourise(mask)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).resize((grid.shape[1] * 3, grid.shape[0] * 3), Image.NEAREST).save(path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Toy shapes dataset preview.")
    parser.add_argument("--debug", action="store_true", help="write a preview grid PNG")
    parser.add_argument("--out", default="toy_shapes_preview.png", help="preview PNG path")
    parser.add_argument("--size", type=int, default=64, help="image size in pixels")
    parser.add_argument("-n", type=int, default=8, help="number of samples in the grid")
    parser.add_argument("--hard", action="store_true",
                        help="the hard mode (scripts/make_shapes.py --hard writes it as a folder dataset)")
    args = parser.parse_args(argv)
    if not args.debug:
        parser.error("nothing to do: pass --debug to write a preview grid")
    path = save_preview(args.out, n=args.n, size=args.size, hard=args.hard)
    print(f"wrote {path} (top: images, bottom: masks; red=circle, green=rectangle, blue=triangle)")


if __name__ == "__main__":
    main()
