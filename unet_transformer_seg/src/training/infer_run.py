"""What ``scripts/infer.py`` does: predict and save a mask + overlay per input image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from src.data.folder import IMAGE_EXTENSIONS, read_image
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
                mode: str = "resize", device: str = "auto", amp: str | bool = "auto") -> list[Path]:
    """Write ``<stem>_mask.png`` (class ids, original size) and ``<stem>_overlay.png``; return the mask paths.

    ``amp``: ``auto|true|false`` as ``training.amp`` (src/utils/amp.py); the logits are
    upsampled and argmaxed in fp32 either way.
    """
    dev = resolve_device(device)
    precision = resolve_amp(parse_amp(amp), dev)
    model, cfg, _ = load_trained(checkpoint, dev)
    keep_norms_fp32(model)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in list_images(inputs):
        image = read_image(path)  # (H, W, 3) uint8
        with precision.autocast():
            mask = predict_mask(model, image, cfg, device=dev, mode=mode)  # (H, W)
        mask_path = out / f"{path.stem}_mask.png"
        Image.fromarray(mask.astype(np.uint8), mode="L").save(mask_path)
        blended = overlay(image.astype(np.float32) / 255.0, mask)
        Image.fromarray((blended * 255).round().astype(np.uint8)).save(out / f"{path.stem}_overlay.png")
        written.append(mask_path)
    return written
