"""Speed perturbation: the duration changes by 1/factor and every frequency by factor."""

from __future__ import annotations

import math

import pytest
import torch

from src.data.augment.speed import speed_perturb


def tone(freq: float, n: int = 16000) -> torch.Tensor:
    return 0.5 * torch.sin(2 * math.pi * freq * torch.arange(n, dtype=torch.float64) / 16000).float()


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_duration_and_pitch_scale_by_the_factor(factor):
    x = tone(1000.0)
    y = speed_perturb(x, factor, 16000)
    assert abs(y.numel() - x.numel() / factor) <= 1
    spec = torch.fft.rfft(y.double()).abs()
    peak_hz = float(spec.argmax()) * 16000 / y.numel()
    assert peak_hz == pytest.approx(1000.0 * factor, abs=2.0)


def test_factor_one_is_the_identity_and_bad_factor_errors():
    x = tone(300.0, 1000)
    assert speed_perturb(x, 1.0, 16000) is x
    with pytest.raises(ValueError, match="speed_factors"):
        speed_perturb(x, 0.0, 16000)
