"""Peak level, silence padding and the telephone band."""

from __future__ import annotations

import math

import pytest
import torch

from src.data.augment.gain import apply_peak_gain, peak_dbfs
from src.data.augment.silence import pad_silence
from src.data.augment.telephone import band_limit


def tone(freq: float, n: int = 16000) -> torch.Tensor:
    return 0.5 * torch.sin(2 * math.pi * freq * torch.arange(n, dtype=torch.float64) / 16000).float()


@pytest.mark.parametrize("level", [-20.0, -6.0, -1.0])
def test_peak_gain_sets_the_peak(level):
    y = apply_peak_gain(tone(440.0), level)
    assert peak_dbfs(y) == pytest.approx(level, abs=1e-4)
    assert torch.equal(apply_peak_gain(torch.zeros(5), level), torch.zeros(5))
    with pytest.raises(ValueError, match="gain_db_max"):
        apply_peak_gain(tone(440.0), 1.0)


def test_silence_padding_digital_and_noisy():
    x = tone(300.0, 1000)
    y = pad_silence(x, 160, 320)
    assert y.shape == (1480,) and torch.equal(y[160:1160], x)
    assert (y[:160] == 0).all() and (y[1160:] == 0).all()
    z = pad_silence(x, 1600, 1600, noise_rms=0.01, generator=torch.Generator().manual_seed(0))
    assert float(z[:1600].double().square().mean().sqrt()) == pytest.approx(0.01, rel=1e-3)
    assert torch.equal(z[1600:2600], x)


@pytest.mark.parametrize("freq, kept", [(100.0, False), (1000.0, True), (3000.0, True), (5000.0, False)])
def test_telephone_band(freq, kept):
    x = tone(freq)
    ratio = float(band_limit(x, 16000).double().square().sum() / x.double().square().sum())
    assert ratio > 0.99 if kept else ratio < 1e-3
