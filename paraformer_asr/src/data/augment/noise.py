"""Additive noise: white, pink and brown noise generated here, babble from other utterances,
and mixing at a requested signal-to-noise ratio.

Coloured noise is white Gaussian noise shaped in the frequency domain: a power spectrum
S(f) ~ 1 / f^alpha needs amplitude gains f^(-alpha/2). alpha = 0 is white (flat, like
microphone hiss), 1 pink (equal energy per octave, like rain or a fan), 2 brown (a
random walk, a low rumble like traffic or wind).

Mixing at SNR s dB scales the noise n by k so that

    10 log10(P_signal / (k^2 P_noise)) = s   =>   k = sqrt(P_signal / (P_noise 10^(s/10)))

with P the mean square. P_signal can be passed in, so that the speech power is measured
before silence padding (padding lowers the mean square without changing how loud the
speech is).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

NOISE_COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}


def coloured_noise(num_samples: int, colour: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """(N,) float32 noise with a 1/f^alpha power spectrum, zero mean, unit RMS."""
    if colour not in NOISE_COLOURS:
        raise ValueError(f"noise colour {colour!r} is not one of {', '.join(NOISE_COLOURS)} (augment.noise_types)")
    if num_samples <= 0:
        return torch.zeros(0)
    alpha = NOISE_COLOURS[colour]
    # Coloured noise is shaped at a power-of-two length and cut to N (an FFT of awkward
    # length is ~5x slower); drawn in float32, 6x cheaper than a float64 draw.
    size = num_samples if alpha == 0 else 1 << (num_samples - 1).bit_length()
    white = torch.randn(size, generator=generator).double()  # (size,)
    if alpha > 0:
        spec = torch.fft.rfft(white)  # (size/2+1,)
        k = torch.arange(spec.numel(), dtype=torch.float64)
        gain = k.clamp(min=1.0).pow(-alpha / 2.0)  # amplitude f^(-alpha/2); bin 0 (DC) removed below
        gain[0] = 0.0
        white = torch.fft.irfft(spec * gain, n=size)[:num_samples]
    x = white - white.mean()
    rms = x.square().mean().sqrt()
    return (x / rms.clamp(min=1e-12)).to(torch.float32)


def babble_noise(num_samples: int, others: list[torch.Tensor], generator: torch.Generator | None = None) -> torch.Tensor:
    """(N,) sum of other utterances, each unit-RMS, looped to length from a random offset; unit RMS."""
    if not others:
        raise ValueError("babble needs at least one other utterance (augment.babble_speakers >= 1)")
    out = torch.zeros(num_samples, dtype=torch.float64)
    for w in others:
        w = w.to(torch.float64)
        rms = w.square().mean().sqrt()
        if w.numel() == 0 or float(rms) == 0.0:
            continue
        reps = math.ceil((num_samples + w.numel()) / w.numel())
        looped = (w / rms).repeat(reps)
        start = int(torch.randint(0, w.numel(), (1,), generator=generator))
        out += looped[start : start + num_samples]
    rms = out.square().mean().sqrt()
    return (out / rms.clamp(min=1e-12)).to(torch.float32)


def mix_at_snr(signal: torch.Tensor, noise: torch.Tensor, snr_db: float, *, signal_power: float | None = None) -> torch.Tensor:
    """(N,) signal + k * noise with k set so that P_signal / P_(k noise) = 10^(snr_db/10).

    Args:
        signal, noise: (N,) each.
        signal_power: the mean square to treat as the signal's; default ``mean(signal^2)``.
    """
    if signal.shape != noise.shape:
        raise ValueError(f"signal {tuple(signal.shape)} and noise {tuple(noise.shape)} must have the same shape")
    p_sig = float(signal.to(torch.float64).square().mean()) if signal_power is None else float(signal_power)
    p_noise = float(noise.to(torch.float64).square().mean())
    if p_sig == 0.0 or p_noise == 0.0:
        return signal  # silence has no SNR; nothing sensible to add
    k = math.sqrt(p_sig / (p_noise * 10.0 ** (snr_db / 10.0)))
    return (signal.to(torch.float64) + k * noise.to(torch.float64)).to(signal.dtype)


def make_noise(
    colour: str,
    num_samples: int,
    generator: torch.Generator,
    babble_source: Callable[[], list[torch.Tensor]] | None = None,
) -> torch.Tensor:
    """(N,) unit-RMS noise of type ``colour`` ("white", "pink", "brown" or "babble")."""
    if colour == "babble":
        if babble_source is None:
            raise ValueError("babble noise needs other utterances; this dataset gives none (remove 'babble' from augment.noise_types)")
        return babble_noise(num_samples, babble_source(), generator)
    return coloured_noise(num_samples, colour, generator)
