"""What ``scripts/infer.py`` does: predict and save a mask + overlay per input image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from src.data.folder import IMAGE_EXTENSIONS, read_image, write_mask
from src.training.plots import overlay
from src.training.predict import load_trained, predict_mask
from src.utils.amp import keep_norms_fp32, parse_amp, resolve_amp
from src.utils.tensor_utils import resolve_device


def list_images(path: str | Path) -> list[Path]:
    """``path`` itself if it is an image, else the images directly inside the folder ``path``."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if images:
            return images
        raise FileNotFoundError(f"no .png/.jpg/.jpeg images in folder {path}")
    raise FileNotFoundError(f"input not found: {path}")


def infer_paths(checkpoint: str | Path, inputs: str | Path, output_dir: str | Path, *,
                mode: str = "resize", device: str = "auto", amp: str | bool = "auto",
                tile: int | None = None, overlap: float = 0.5, tile_batch: int = 4) -> list[Path]:
    """Write ``<stem>_mask.png`` (original size) and ``<stem>_overlay.png``; return the mask paths.

    The mask is written in the model's ``data.mask_format``, so it loads back with the
    same setting: index = 8-bit class ids, palette = a P-mode PNG with the training masks'
    palette (stored in the checkpoint), binary = 0/255. ``amp``: ``auto|true|false`` as
    ``training.amp`` (src/utils/amp.py); the logits are upsampled and argmaxed in fp32
    either way. ``mode``/``tile``/``overlap``/``tile_batch``: see ``predict_mask``.
    """
    dev = resolve_device(device)
    precision = resolve_amp(parse_amp(amp), dev)
    model, cfg, ckpt = load_trained(checkpoint, dev)
    keep_norms_fp32(model)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    intensity = tuple(cfg.data.intensity_range) or None
    written = []
    for path in list_images(inputs):
        image = read_image(path, intensity)  # (H, W, 3) float32 in [0, 1], upright
        with precision.autocast():
            mask = predict_mask(model, image, cfg, device=dev, mode=mode, tile=tile, overlap=overlap,
                                tile_batch=tile_batch)  # (H, W)
        mask_path = out / f"{path.stem}_mask.png"
        write_mask(mask_path, mask, cfg.data.mask_format, ckpt.get("palette"))
        blended = overlay(image, mask)
        Image.fromarray((blended * 255).round().astype(np.uint8)).save(out / f"{path.stem}_overlay.png")
        written.append(mask_path)
    return written
