"""WaveformAugment: a pure function of (seed, utterance, epoch); config errors name the key."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from src.data.augment import WaveformAugment, augment_generator
from src.utils.config import AugmentConfig

EVERYTHING = AugmentConfig(enabled=True, reverb_prob=1.0, telephone_prob=0.5, silence_prob=1.0, noise_prob=1.0,
                           gain_prob=1.0, noise_types=["white", "babble"])


def wave(n: int = 8000, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (0.3 * torch.sin(2 * math.pi * 200 * torch.arange(n) / 16000) + 0.01 * torch.randn(n, generator=g)).float()


def run(seed: int, utt: int, epoch: int, cfg: AugmentConfig = EVERYTHING) -> tuple[torch.Tensor, dict]:
    def other(g: torch.Generator) -> torch.Tensor:
        return wave(4000, seed=int(torch.randint(100, (), generator=g)))

    return WaveformAugment(cfg, 16000)(wave(), augment_generator(seed, utt, epoch), other_utterance=other)


def test_function_of_seed_utterance_and_epoch():
    a, info_a = run(0, 5, 2)
    b, info_b = run(0, 5, 2)
    assert torch.equal(a, b) and info_a == info_b
    for other in (run(1, 5, 2), run(0, 6, 2), run(0, 5, 3)):
        assert not (other[0].shape == a.shape and torch.equal(other[0], a))
    assert {"rt60", "lead_silence", "noise", "snr_db", "peak_dbfs"} <= set(info_a)


def test_all_probabilities_zero_is_the_identity():
    cfg = AugmentConfig(enabled=True, speed_factors=[1.0])
    x = wave()
    y, info = WaveformAugment(cfg, 16000)(x, augment_generator(0, 0, 0))
    assert torch.equal(y, x) and info == {}


def test_speed_factor_drawn_from_the_list():
    cfg = AugmentConfig(enabled=True, speed_factors=[1.1])
    y, info = WaveformAugment(cfg, 16000)(wave(), augment_generator(0, 0, 0))
    assert info == {"speed": 1.1} and abs(y.numel() - 8000 / 1.1) <= 1


@pytest.mark.parametrize("change, key", [
    (dict(noise_prob=1.5), "augment.noise_prob"),
    (dict(speed_factors=[]), "augment.speed_factors"),
    (dict(rt60_min=0.9, rt60_max=0.3), "augment.rt60_min"),
    (dict(gain_db_max=3.0), "augment.gain_db_min"),
    (dict(noise_types=["purple"]), "augment.noise_types"),
])
def test_bad_config_names_the_key(change, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        WaveformAugment(dataclasses.replace(AugmentConfig(), **change), 16000)
