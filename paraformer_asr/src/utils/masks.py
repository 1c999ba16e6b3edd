"""The one place padding masks are built (WeNet's ``make_pad_mask``)."""

from __future__ import annotations

import torch


def make_pad_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """Padding mask from lengths: True marks padding.

    Args:
        lengths: (B,) valid lengths.
        max_len: width of the mask; defaults to ``lengths.max()``.
    Returns:
        (B, max_len) bool, ``pad_mask[b, t] = t >= lengths[b]``.
    """
    if max_len is None:
        max_len = int(lengths.max()) if lengths.numel() else 0
    steps = torch.arange(max_len, device=lengths.device)  # (T,)
    return steps.unsqueeze(0) >= lengths.unsqueeze(1)  # (B, T)
