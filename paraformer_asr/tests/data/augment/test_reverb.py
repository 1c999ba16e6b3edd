"""Synthetic RIR: its RT60, measured by Schroeder backward integration, is the requested one."""

from __future__ import annotations

import math

import pytest
import torch

from src.data.augment.reverb import measure_rt60, reverberate, synthetic_rir


@pytest.mark.parametrize("rt60", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("drr", [-3.0, 10.0])
def test_rir_has_the_requested_rt60(rt60, drr):
    for seed in range(3):
        h = synthetic_rir(rt60, 16000, torch.Generator().manual_seed(seed), direct_to_reverb_db=drr)
        assert h.shape == (int(1.5 * rt60 * 16000),) and float(h.abs().max()) == pytest.approx(1.0)
        assert abs(measure_rt60(h, 16000) - rt60) < 0.2 * rt60


def test_measure_rt60_on_an_exact_exponential():
    # independent of the generator: a noiseless energy decay of 60 dB in 0.4 s
    t = torch.arange(16000, dtype=torch.float64) / 16000
    h = torch.exp(-3 * math.log(10) * t / 0.4)
    assert measure_rt60(h, 16000) == pytest.approx(0.4, rel=0.01)


def test_reverberate_keeps_length_and_level_and_smears_an_impulse():
    x = torch.zeros(8000)
    x[100] = 1.0
    h = synthetic_rir(0.3, 16000, torch.Generator().manual_seed(0))
    y = reverberate(x, h)
    assert y.shape == x.shape
    assert float(y.double().square().mean()) == pytest.approx(float(x.double().square().mean()), rel=1e-6)
    assert float(y[2000:].abs().sum()) > 0 and float(y[:100].abs().max()) < 1e-6  # a tail after, nothing before
    with pytest.raises(ValueError, match="RT60"):
        synthetic_rir(0.0, 16000)
