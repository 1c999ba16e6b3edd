"""Pixel-wise cross-entropy that skips ``ignore_index`` pixels; BCE for a single-logit (K=1) model."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def seg_cross_entropy(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """Mean cross-entropy over the labelled pixels.

    Args:
        logits: (B, K, H, W) float. K=1 means one sigmoid logit (binary BCE).
        target: (B, H, W) int64 in [0, K) (in {0, 1} when K=1) or ``ignore_index``.
    Returns:
        scalar float; 0 (with a gradient path) when every pixel is ignored.
    """
    valid = target != ignore_index  # (B, H, W)
    # sum / count instead of reduction="mean": equal whenever one pixel is labelled,
    # and 0 rather than 0/0 = NaN for a crop that is all ignore_index (no host sync needed).
    count = valid.sum().clamp_min(1)
    if logits.shape[1] == 1:
        bce = F.binary_cross_entropy_with_logits(logits[:, 0], (target == 1).to(logits.dtype), reduction="none")
        return (bce * valid).sum() / count  # (B, H, W) -> scalar
    return F.cross_entropy(logits, target, ignore_index=ignore_index, reduction="sum") / count
