"""Training-only feature augmentation: SpecAugment masking and VTLP frequency warping.

SpecAugment (Park et al., 2019): frequency and time masking.

Masking whole mel bands and whole stretches of frames forces the model not to rely
on any single band or instant, a cheap regulariser that usually helps most on small
corpora. We skip the paper's time warping (its gain is small and it is costly).
Masks are filled with 0, which after global CMVN is each bin's training mean, so a
masked region looks like "average speech" rather than a loud outlier.

Frequency warping (vocal tract length perturbation, Jaitly & Hinton, 2013): a longer
or shorter vocal tract scales every formant frequency by about the same factor, which
is most of what tells one speaker's vowels from another's. Training on spectra
stretched by a random factor alpha near 1 teaches the model that those shifts do not
change the words, which helps most when the test speakers are unseen (the speech
corpus's test voices are). We warp the log-mel features directly (cheap, and it works
on cached features): bin i centred at f_i takes the value the spectrum had at
f_i / alpha, read by linear interpolation between the neighbouring bins.
"""

from __future__ import annotations

import torch

from src.data.features import mel_scale
from src.utils.config import FeaturesConfig, SpecAugmentConfig


def warp_source_positions(alpha: float, cfg: FeaturesConfig) -> torch.Tensor:
    """(M,) fractional mel-bin index that bin i reads from when the spectrum is stretched by ``alpha``.

    Bin i's centre is mel_low + (i + 1) * step on the mel scale (as in
    :func:`src.data.features.mel_filterbank`); its frequency f_i is divided by ``alpha``
    and mapped back to a (fractional) bin index. alpha > 1 moves spectral peaks up.
    """
    nyquist = cfg.sample_rate / 2.0
    low = cfg.low_freq
    high = cfg.high_freq if cfg.high_freq > 0 else nyquist + cfg.high_freq
    mel_low, mel_high = mel_scale(low), mel_scale(high)
    step = (mel_high - mel_low) / (cfg.num_mel_bins + 1)
    centre_mel = mel_low + step * torch.arange(1, cfg.num_mel_bins + 1, dtype=torch.float64)  # (M,)
    centre_hz = 700.0 * torch.expm1(centre_mel / 1127.0)  # inverse of mel_scale
    source_mel = mel_scale(centre_hz / alpha)
    return (source_mel - mel_low) / step - 1.0  # (M,)


def frequency_warp(feats: torch.Tensor, alpha: float, cfg: FeaturesConfig) -> torch.Tensor:
    """(..., T, M) log-mel features as if the speaker's spectrum were stretched by ``alpha``.

    Linear interpolation between neighbouring bins; positions beyond the first or last
    bin take that bin's value. ``alpha == 1`` returns an exact copy.
    """
    if feats.dim() < 2 or feats.shape[-1] != cfg.num_mel_bins:
        raise ValueError(f"frequency_warp expects (..., T, {cfg.num_mel_bins}) log-mel features, got {tuple(feats.shape)}")
    if alpha == 1.0:
        return feats.clone()
    pos = warp_source_positions(alpha, cfg).clamp(0.0, cfg.num_mel_bins - 1.0)  # (M,)
    lo = pos.floor().long()  # (M,)
    hi = (lo + 1).clamp(max=cfg.num_mel_bins - 1)
    w = (pos - lo).to(feats.dtype)  # (M,) weight of the upper neighbour
    return feats[..., lo] * (1.0 - w) + feats[..., hi] * w  # (..., T, M)


def random_frequency_warp(
    feats: torch.Tensor, max_warp: float, cfg: FeaturesConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """:func:`frequency_warp` with alpha uniform in [1 - max_warp, 1 + max_warp]."""
    if not 0.0 <= max_warp < 0.5:
        raise ValueError(f"spec_augment.freq_warp={max_warp} must be in [0, 0.5); 0.1 (alpha in [0.9, 1.1]) is typical")
    alpha = 1.0 + max_warp * (2.0 * float(torch.rand((), generator=generator, dtype=torch.float64)) - 1.0)
    return frequency_warp(feats, alpha, cfg)


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
