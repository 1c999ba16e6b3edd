"""Loading a trained model from a checkpoint and predicting masks for images of any size."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from src.data.transforms import resize_image
from src.models import build_model
from src.training.evaluate import labels_from_logits
from src.training.sliding_window import sliding_window_logits
from src.utils.checkpoint import load_checkpoint
from src.utils.config import ExperimentConfig, apply_overrides, config_from_dict
from src.utils.logging import resolve_run_path


def load_trained(checkpoint: str | Path, device: torch.device,
                 overrides: list[str] | None = None) -> tuple[nn.Module, ExperimentConfig, dict]:
    """(model in eval mode on ``device``, its resolved config (+ ``overrides``), the checkpoint dict)."""
    ckpt = load_checkpoint(resolve_run_path(checkpoint), map_location="cpu")
    cfg = config_from_dict(apply_overrides(ckpt["config"], list(overrides or [])))
    model = build_model(cfg.model)
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), cfg, ckpt


MODES = ("resize", "pad", "window")


def to_model_input(image: np.ndarray, cfg: ExperimentConfig) -> torch.Tensor:
    """(H, W, 3) image, uint8 or float in [0, 1] (what ``read_image`` returns) -> normalised (1, 3, H, W) float32."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
    if image.dtype == np.uint8:
        x = torch.from_numpy(np.ascontiguousarray(image)).float() / 255.0
    elif np.issubdtype(image.dtype, np.floating):
        x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
    else:
        raise ValueError(f"expected a uint8 or float [0, 1] image, got dtype {image.dtype}")
    x = x.permute(2, 0, 1)[None]  # (1, 3, H, W)
    mean = torch.tensor(cfg.data.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(cfg.data.std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    image: np.ndarray,
    cfg: ExperimentConfig,
    *,
    device: torch.device,
    mode: Literal["resize", "pad", "window"] = "resize",
    tile: int | None = None,
    overlap: float = 0.5,
    tile_batch: int = 4,
) -> torch.Tensor:
    """(1, K, H, W) float32 logits on the CPU for one image (H, W, 3) of any size; see :func:`predict_mask`."""
    h, w = image.shape[:2]
    x = to_model_input(image, cfg)  # (1, 3, H, W) on the CPU
    if mode == "resize":
        s = cfg.data.image_size
        x = resize_image(x.to(device), (s, s))  # (1, 3, S, S), antialiased like the training resize
        logits = model(x)  # (1, K, S, S)
        logits = F.interpolate(logits.float(), size=(h, w), mode="bilinear", align_corners=False)  # (1, K, H, W)
    elif mode == "pad":
        m = 2 ** cfg.model.depth
        ph, pw = (-h) % m, (-w) % m
        # Reflect padding needs pad < size; replicate works for tiny images too.
        pad_mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x.to(device), (0, pw, 0, ph), mode=pad_mode)  # (1, 3, H + ph, W + pw)
        logits = model(x)[..., :h, :w].float()  # (1, K, H, W)
    elif mode == "window":
        tile = tile or cfg.data.image_size
        m = 2 ** cfg.model.depth
        if tile % m:
            raise ValueError(f"window tile {tile} is not divisible by 2**depth={m}; use a multiple of {m} "
                             f"(--tile, default data.image_size)")
        logits = sliding_window_logits(model, x, tile=tile, overlap=overlap, batch_size=tile_batch,
                                       device=device)  # (1, K, H, W) on the CPU
    else:
        raise ValueError(f"unknown mode {mode!r}; use one of: {', '.join(MODES)}")
    return logits.cpu()


@torch.no_grad()
def predict_mask(
    model: nn.Module,
    image: np.ndarray,
    cfg: ExperimentConfig,
    *,
    device: torch.device,
    mode: Literal["resize", "pad", "window"] = "resize",
    tile: int | None = None,
    overlap: float = 0.5,
    tile_batch: int = 4,
) -> np.ndarray:
    """Class ids (H, W) int64 for one RGB image (H, W, 3) (uint8, or float in [0, 1]) of any size.

    ``resize``: scale to the training size ``data.image_size`` (what the model saw;
    antialiased when shrinking), upsample the logits bilinearly back to (H, W), then
    argmax; smoother than resizing the label map. ``pad``: keep the native scale,
    reflect-pad H and W up to a multiple of 2**depth (the U-Net halves the map ``depth``
    times) and crop back. ``window``: native scale in overlapping ``tile`` windows
    (default ``data.image_size``), ``tile_batch`` at a time, Gaussian-weighted
    (src/training/sliding_window.py); memory stays bounded for any image size.
    ``eval.py`` scores exactly these masks.
    """
    logits = predict_logits(model, image, cfg, device=device, mode=mode, tile=tile, overlap=overlap,
                            tile_batch=tile_batch)  # (1, K, H, W)
    return labels_from_logits(logits)[0].numpy()  # (H, W)
