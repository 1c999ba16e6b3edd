"""Simulated reverberation: a synthetic room impulse response and its measured RT60.

The late part of a room impulse response is well modelled as Gaussian noise under an
exponentially decaying envelope (Polack's statistical model). RT60 is the time the
energy takes to fall by 60 dB, so the energy envelope is exp(-2 a t) with
10 log10(exp(-2 a RT60)) = -60 dB, i.e. a = 3 ln(10) / RT60 for the amplitude:

    h[n] = delta[n] * d + g[n] exp(-3 ln(10) n / (RT60 sr)),   g ~ N(0, 1)

with d the direct sound. :func:`measure_rt60` checks an RIR the way acousticians do:
Schroeder's backward integration EDC(t) = sum_{n >= t} h[n]^2 gives a smooth decay
curve; a straight line fitted to it between -5 and -25 dB (T20) is extrapolated to
-60 dB (ISO 3382).
"""

from __future__ import annotations

import math

import torch


def synthetic_rir(rt60: float, sample_rate: int, generator: torch.Generator | None = None, *,
                  direct_to_reverb_db: float = 0.0) -> torch.Tensor:
    """(1.5 * rt60 * sr,) float32 impulse response with the given RT60 (s), peak-normalised.

    ``direct_to_reverb_db``: energy of the direct impulse over that of the decaying tail.
    """
    if rt60 <= 0:
        raise ValueError(f"RT60 must be positive, got {rt60} (augment.rt60_min / rt60_max)")
    n = max(2, int(1.5 * rt60 * sample_rate))  # 1.5 RT60 = a 90 dB decay: the rest is inaudible
    t = torch.arange(n, dtype=torch.float64) / sample_rate
    tail = torch.randn(n, generator=generator).double() * torch.exp(-3.0 * math.log(10.0) * t / rt60)
    tail[0] = 0.0
    direct = math.sqrt(float(tail.square().sum()) * 10.0 ** (direct_to_reverb_db / 10.0))
    h = tail
    h[0] = direct
    return (h / h.abs().max()).to(torch.float32)


def measure_rt60(rir: torch.Tensor, sample_rate: int, *, start_db: float = -5.0, end_db: float = -25.0) -> float:
    """RT60 (s) from Schroeder backward integration and a line fitted between ``start_db`` and ``end_db``."""
    energy = rir.to(torch.float64).square()
    edc = torch.flip(torch.cumsum(torch.flip(energy, [0]), 0), [0])  # (N,) energy left after each sample
    edc_db = 10.0 * torch.log10(edc / edc[0]).clamp(min=-200.0)
    sel = (edc_db <= start_db) & (edc_db >= end_db)
    if int(sel.sum()) < 2:
        raise ValueError("the impulse response does not decay through the fit range; is it too short?")
    t = torch.arange(rir.numel(), dtype=torch.float64)[sel] / sample_rate
    y = edc_db[sel]
    slope = float(((t - t.mean()) * (y - y.mean())).sum() / (t - t.mean()).square().sum())  # dB per second
    return -60.0 / slope


def reverberate(wave: torch.Tensor, rir: torch.Tensor) -> torch.Tensor:
    """(N,) convolved with the RIR (by FFT), cut to N samples and rescaled to the input's RMS."""
    n = wave.numel()
    if n == 0:
        return wave
    size = 1 << (n + rir.numel() - 2).bit_length()  # linear (not circular) convolution
    y = torch.fft.irfft(torch.fft.rfft(wave.to(torch.float64), size) * torch.fft.rfft(rir.to(torch.float64), size), size)[:n]
    rms_in, rms_out = wave.to(torch.float64).square().mean().sqrt(), y.square().mean().sqrt()
    if float(rms_out) > 0:
        y = y * (rms_in / rms_out)
    return y.to(wave.dtype)
