"""Sliding-window inference with Gaussian importance weighting (as nnU-Net and MONAI do it).

A whole large image in one pass costs memory that grows with its area (the math
attention's (B, h, N, N) map grows with the area squared: about 69 GB at 2048^2).
Instead the image is cut into ``tile x tile`` windows that overlap by ``overlap``
(a fraction of the tile), the model runs on ``batch_size`` windows at a time, and the
logits of overlapping windows are averaged with a Gaussian weight per window pixel::

    logits(y, x) = sum_w g(y - y_w, x - x_w) * logits_w(y, x) / sum_w g(y - y_w, x - x_w)

Why Gaussian: a window's border pixels see the least context (their receptive field
is cut by the window edge), so their predictions are the least reliable; the weight
g, centred on the window with sigma = ``sigma_scale * tile`` (nnU-Net: 1/8), lets the
centre of one window win over the border of its neighbour and removes visible seams.
g is clamped away from 0 so that every pixel of the image has a positive total weight.

Memory is bounded by the tile batch on the model's device plus the (K, H, W) float32
sum and the (H, W) weight on ``accumulate_device`` (the CPU by default): 2048 x 2048 x
K=4 is 64 MiB, whatever the model.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def gaussian_importance(tile: int, *, sigma_scale: float = 1.0 / 8) -> torch.Tensor:
    """(tile, tile) float32 weights, 1 at the centre, a separable Gaussian of sigma = sigma_scale * tile."""
    sigma = sigma_scale * tile
    coords = torch.arange(tile, dtype=torch.float64) - (tile - 1) / 2  # pixel centres around the middle
    g1 = torch.exp(-0.5 * (coords / sigma) ** 2)  # (tile,)
    g = torch.outer(g1, g1)  # (tile, tile), peak 1 at the centre
    # nnU-Net clamps the zeros of the Gaussian to its smallest positive value; ours has none in
    # float64, but the corners at sigma = tile/8 are ~1e-14, so keep a floor for float32 sums.
    return g.clamp_min(1e-6).float()


def window_starts(size: int, tile: int, overlap: float) -> list[int]:
    """Top-left offsets along one axis: windows of ``tile`` covering [0, size) with at least ``overlap`` overlap.

    The number of windows is the fewest whose stride is at most tile * (1 - overlap); the
    offsets are then spread evenly from 0 to size - tile (as nnU-Net's steps), so the
    first and last windows touch the image borders.
    """
    if size <= tile:
        return [0]
    max_stride = tile * (1.0 - overlap)
    n = math.ceil((size - tile) / max_stride) + 1
    return [round(i * (size - tile) / (n - 1)) for i in range(n)]


@torch.no_grad()
def sliding_window_logits(
    model: nn.Module,
    x: torch.Tensor,
    *,
    tile: int,
    overlap: float = 0.5,
    batch_size: int = 4,
    sigma_scale: float = 1.0 / 8,
    device: torch.device | None = None,
    accumulate_device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Gaussian-weighted average of the model's logits over overlapping windows.

    Args:
        model: maps (b, C, tile, tile) to (b, K, tile, tile) logits.
        x: one normalised image (1, C, H, W), on any device (windows are moved to ``device``).
        tile: window side; a multiple of 2**depth. Images smaller than a tile are padded
            (reflect, or replicate for tiny ones) and the padding is cropped off again.
        overlap: in [0, 1): the fraction of a tile that neighbouring windows share (at least).
        batch_size: windows per forward pass (bounds the model's memory).

    Returns:
        (1, K, H, W) float32 logits on ``accumulate_device``.
    """
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"sliding_window_logits takes one image (1, C, H, W), got {tuple(x.shape)}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"window overlap must be in [0, 1), got {overlap}")
    if tile < 1 or batch_size < 1:
        raise ValueError(f"window tile ({tile}) and batch size ({batch_size}) must be >= 1")
    device = device if device is not None else x.device
    h, w = x.shape[-2:]
    ph, pw = max(tile - h, 0), max(tile - w, 0)
    if ph or pw:  # a small image: pad up to one tile
        x = F.pad(x, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")  # (1, C, H', W')
    hp, wp = x.shape[-2:]
    weight = gaussian_importance(tile, sigma_scale=sigma_scale).to(accumulate_device)  # (tile, tile)
    boxes = [(y0, x0) for y0 in window_starts(hp, tile, overlap) for x0 in window_starts(wp, tile, overlap)]
    total: torch.Tensor | None = None  # (K, H', W') sum of weighted logits
    norm = torch.zeros(hp, wp, dtype=torch.float32, device=accumulate_device)  # (H', W') sum of weights
    for i in range(0, len(boxes), batch_size):
        chunk = boxes[i:i + batch_size]
        tiles = torch.cat([x[..., y0:y0 + tile, x0:x0 + tile] for y0, x0 in chunk]).to(device)  # (b, C, tile, tile)
        logits = model(tiles).float().to(accumulate_device)  # (b, K, tile, tile)
        if total is None:
            total = torch.zeros(logits.shape[1], hp, wp, dtype=torch.float32, device=accumulate_device)
        for (y0, x0), lg in zip(chunk, logits):
            total[:, y0:y0 + tile, x0:x0 + tile] += lg * weight
            norm[y0:y0 + tile, x0:x0 + tile] += weight
    assert total is not None  # at least one window always exists
    return (total / norm)[None, :, :h, :w]  # (1, K, H, W)
