"""SpecAugment (Park et al., 2019): frequency and time masking, training only.

Masking whole mel bands and whole stretches of frames forces the model not to rely
on any single band or instant, a cheap regulariser that usually helps most on small
corpora. We skip the paper's time warping (its gain is small and it is costly).
Masks are filled with 0, which after global CMVN is each bin's training mean, so a
masked region looks like "average speech" rather than a loud outlier.
"""

from __future__ import annotations

import torch

from src.utils.config import SpecAugmentConfig


def spec_augment(feats: torch.Tensor, cfg: SpecAugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Masked copy of one utterance's features.

    Each of ``num_freq_masks`` masks zeroes bins [f0, f0 + f) with f uniform in
    [0, freq_mask_width] and f0 uniform in [0, F - f]; time masks do the same over
    frames with width up to ``time_mask_width`` (capped at T). Masks may overlap.

    Args:
        feats: (T, F) features (after CMVN).
        cfg: the ``spec_augment`` section; ``enabled`` is the caller's business.
        generator: RNG, so augmentation is reproducible.
    Returns:
        (T, F), a new tensor; ``feats`` is not modified.
    """
    if feats.dim() != 2:
        raise ValueError(f"spec_augment expects (T, F) features, got {tuple(feats.shape)}")
    T, F = feats.shape
    out = feats.clone()

    def draw(high: int) -> int:  # uniform integer in [0, high]
        return int(torch.randint(0, high + 1, (1,), generator=generator))

    for _ in range(cfg.num_freq_masks):
        f = draw(min(cfg.freq_mask_width, F))
        f0 = draw(F - f)
        out[:, f0 : f0 + f] = 0.0
    for _ in range(cfg.num_time_masks):
        t = draw(min(cfg.time_mask_width, T))
        t0 = draw(T - t)
        out[t0 : t0 + t, :] = 0.0
    return out
