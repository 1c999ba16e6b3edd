"""Telephone channel: keep only the 300-3400 Hz band of the narrowband telephone network.

A zero-phase FFT filter whose gain rises and falls with raised-cosine edges (100 Hz
wide) instead of a brick wall, so the band edges do not ring across the utterance.
"""

from __future__ import annotations

import math

import torch


def band_limit(wave: torch.Tensor, sample_rate: int, *, low_hz: float = 300.0, high_hz: float = 3400.0,
               edge_hz: float = 100.0) -> torch.Tensor:
    """(N,) -> (N,) with the spectrum outside [low_hz, high_hz] removed."""
    n = wave.numel()
    if n == 0:
        return wave
    size = 1 << (n - 1).bit_length()  # zero-padded to a power of two: an FFT of awkward length is ~5x slower
    spec = torch.fft.rfft(wave.to(torch.float64), size)  # (size/2+1,) complex
    freqs = torch.fft.rfftfreq(size, d=1.0 / sample_rate, dtype=torch.float64)  # (size/2+1,) Hz

    def ramp(f: torch.Tensor) -> torch.Tensor:  # 0 below -edge/2, 1 above +edge/2, raised cosine between
        t = (f / edge_hz + 0.5).clamp(0.0, 1.0)
        return 0.5 - 0.5 * torch.cos(math.pi * t)

    gain = ramp(freqs - low_hz) * ramp(high_hz - freqs)  # (size/2+1,)
    return torch.fft.irfft(spec * gain, n=size)[:n].to(wave.dtype)
