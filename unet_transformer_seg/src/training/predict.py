"""Loading a trained model from a checkpoint and predicting masks for images of any size."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from src.models import build_model
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


@torch.no_grad()
def predict_mask(
    model: nn.Module,
    image: np.ndarray,
    cfg: ExperimentConfig,
    *,
    device: torch.device,
    mode: Literal["resize", "pad"] = "resize",
) -> np.ndarray:
    """Class ids (H, W) int64 for one RGB image (H, W, 3) uint8 of any size.

    ``resize``: scale to the training size ``data.image_size`` (what the model saw),
    upsample the logits bilinearly back to (H, W), then argmax; smoother than
    resizing the label map. ``pad``: keep the native scale, reflect-pad H and W up to
    a multiple of 2**depth (the U-Net halves the map ``depth`` times) and crop back.
    """
    h, w = image.shape[:2]
    mean = torch.tensor(cfg.data.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(cfg.data.std, dtype=torch.float32).view(1, 3, 1, 1)
    x = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255.0  # (1, 3, H, W)
    x = ((x - mean) / std).to(device)
    if mode == "resize":
        s = cfg.data.image_size
        x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)  # (1, 3, S, S)
        logits = model(x)  # (1, K, S, S)
        logits = F.interpolate(logits.float(), size=(h, w), mode="bilinear", align_corners=False)  # (1, K, H, W)
    elif mode == "pad":
        m = 2 ** cfg.model.depth
        ph, pw = (-h) % m, (-w) % m
        # Reflect padding needs pad < size; replicate works for tiny images too.
        pad_mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=pad_mode)  # (1, 3, H + ph, W + pw)
        logits = model(x)[..., :h, :w].float()  # (1, K, H, W)
    else:
        raise ValueError(f"unknown mode {mode!r}; use resize or pad")
    if logits.shape[1] == 1:  # binary model: one logit, threshold at probability 0.5
        return (logits[0, 0] > 0).long().cpu().numpy()
    return logits[0].argmax(0).cpu().numpy()  # (H, W)
