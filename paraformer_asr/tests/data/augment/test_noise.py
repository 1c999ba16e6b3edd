"""Additive noise: mixes hit the requested SNR; pink and brown noise have 1/f and 1/f^2 spectra."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from src.data.augment.noise import babble_noise, coloured_noise, mix_at_snr


def speech_like(n: int = 16000, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n, dtype=torch.float64) / 16000
    return (0.3 * torch.sin(2 * math.pi * 220 * t) * (1 + torch.sin(2 * math.pi * 3 * t))
            + 0.01 * torch.randn(n, generator=g, dtype=torch.float64)).float()


def measured_snr(clean: torch.Tensor, mixed: torch.Tensor) -> float:
    noise = mixed.double() - clean.double()
    return 10 * math.log10(float(clean.double().square().mean()) / float(noise.square().mean()))


@pytest.mark.parametrize("colour", ["white", "pink", "brown"])
@pytest.mark.parametrize("snr", [0.0, 7.5, 30.0])
def test_mix_hits_the_requested_snr(colour, snr):
    x = speech_like()
    n = coloured_noise(x.numel(), colour, torch.Generator().manual_seed(1))
    mixed = mix_at_snr(x, n, snr)
    assert abs(measured_snr(x, mixed) - snr) < 0.1


def test_babble_mix_and_given_signal_power():
    x = speech_like()
    others = [speech_like(9000, seed=s) for s in (2, 3, 4)]
    babble = babble_noise(x.numel(), others, torch.Generator().manual_seed(0))
    assert babble.shape == x.shape and float(babble.double().square().mean()) == pytest.approx(1.0, rel=1e-4)
    assert abs(measured_snr(x, mix_at_snr(x, babble, 12.0)) - 12.0) < 0.1
    # with the speech power given (measured before silence padding), the SNR refers to it
    padded = torch.cat([torch.zeros(8000), x])
    mixed = mix_at_snr(padded, coloured_noise(padded.numel(), "white", torch.Generator().manual_seed(3)), 20.0,
                       signal_power=float(x.double().square().mean()))
    noise_power = float((mixed.double() - padded.double()).square().mean())
    assert 10 * math.log10(float(x.double().square().mean()) / noise_power) == pytest.approx(20.0, abs=0.1)


@pytest.mark.parametrize("colour, slope", [("white", 0.0), ("pink", -1.0), ("brown", -2.0)])
def test_noise_spectrum_slope(colour, slope):
    n = coloured_noise(2**16, colour, torch.Generator().manual_seed(0))
    assert n.shape == (2**16,) and abs(float(n.mean())) < 1e-5
    assert float(n.double().square().mean()) == pytest.approx(1.0, rel=1e-4)
    power = torch.fft.rfft(n.double()).abs().square().numpy()
    freqs = np.arange(power.size)
    sel = (freqs > 50) & (freqs < 20000)
    fitted = np.polyfit(np.log10(freqs[sel]), np.log10(power[sel]), 1)[0]  # log-log slope of the power
    assert fitted == pytest.approx(slope, abs=0.1)


def test_bad_colour_and_shape_mismatch():
    with pytest.raises(ValueError, match="noise_types"):
        coloured_noise(10, "purple")
    with pytest.raises(ValueError, match="same shape"):
        mix_at_snr(torch.zeros(3), torch.zeros(4), 10.0)
