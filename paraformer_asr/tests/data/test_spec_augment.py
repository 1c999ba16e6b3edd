"""SpecAugment: masks are whole bands/stretches, bounded, and reproducible."""

from __future__ import annotations

import torch

from src.data.spec_augment import spec_augment
from src.utils.config import SpecAugmentConfig


def test_masks_are_bounded_and_seeded():
    cfg = SpecAugmentConfig(enabled=True, num_freq_masks=2, freq_mask_width=10, num_time_masks=2, time_mask_width=20)
    x = torch.rand(100, 80) + 1.0  # no zeros before masking
    a = spec_augment(x, cfg, torch.Generator().manual_seed(3))
    b = spec_augment(x, cfg, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert float(x.min()) >= 1.0  # input untouched
    zero = a == 0
    full_cols = zero.all(dim=0)  # (F,) bands masked over every frame
    full_rows = zero.all(dim=1)  # (T,) frames masked over every bin
    # every zero lies in a fully masked band or frame
    assert torch.equal(zero, full_cols[None, :] | full_rows[:, None])
    assert int(full_cols.sum()) <= 2 * 10 and int(full_rows.sum()) <= 2 * 20


def test_masks_vary_with_seed_and_respect_short_inputs():
    cfg = SpecAugmentConfig(enabled=True, num_freq_masks=1, freq_mask_width=30, num_time_masks=1, time_mask_width=50)
    x = torch.ones(10, 80)
    outs = {spec_augment(x, cfg, torch.Generator().manual_seed(s)).sum().item() for s in range(10)}
    assert len(outs) > 1
    # the time mask never exceeds the utterance (T = 10 < width 50)
    for s in range(10):
        y = spec_augment(x, cfg, torch.Generator().manual_seed(s))
        assert y.shape == (10, 80)


def test_time_mask_span_lies_within_the_utterance():
    """One time mask: a contiguous run [t0, t0 + t) with t <= min(width, T) and t0 + t <= T, as documented.

    The documented draws (t uniform in [0, min(width, T)], t0 uniform in [0, T - t]) are replayed
    with the same seed, so the span must be exactly the drawn one, never clipped by the end.
    """
    for T, width in [(10, 50), (100, 20), (31, 31)]:
        cfg = SpecAugmentConfig(enabled=True, num_freq_masks=0, num_time_masks=1, time_mask_width=width)
        ends, widths = set(), set()
        for s in range(60):
            y = spec_augment(torch.ones(T, 8), cfg, torch.Generator().manual_seed(s))
            masked = (y == 0).all(dim=1).nonzero().flatten().tolist()  # (n,) masked frames
            g = torch.Generator().manual_seed(s)
            t = int(torch.randint(0, min(width, T) + 1, (1,), generator=g))
            t0 = int(torch.randint(0, T - t + 1, (1,), generator=g))
            assert masked == list(range(t0, t0 + t)), f"T={T} seed={s}: masked {masked}, drawn [{t0}, {t0 + t})"
            assert t0 + t <= T and t <= min(width, T)
            if masked:
                ends.add(masked[-1])
                widths.add(len(masked))
        if width >= T:
            assert T - 1 in ends  # the span can reach the utterance's last frame
        assert max(widths) > min(width, T) // 2  # and is not always narrow


def test_zero_masks_is_identity():
    cfg = SpecAugmentConfig(enabled=True, num_freq_masks=0, num_time_masks=0)
    x = torch.rand(7, 5)
    assert torch.equal(spec_augment(x, cfg), x)


# --------------------------------------------------------------------------- #
# Frequency warping (VTLP)                                                     #
# --------------------------------------------------------------------------- #
import math  # noqa: E402

import pytest  # noqa: E402

from src.data.features import Fbank  # noqa: E402
from src.data.spec_augment import frequency_warp, random_frequency_warp  # noqa: E402
from src.utils.config import FeaturesConfig  # noqa: E402


def _tone_fbank(freq_hz: float, cfg: FeaturesConfig) -> torch.Tensor:
    t = torch.arange(int(0.5 * cfg.sample_rate), dtype=torch.float64) / cfg.sample_rate
    return Fbank(cfg)(0.3 * torch.sin(2 * math.pi * freq_hz * t))  # (T, M)


def test_warp_shape_and_alpha_one_is_exact_copy():
    cfg = FeaturesConfig()
    x = torch.randn(12, cfg.num_mel_bins)
    y = frequency_warp(x, 1.0, cfg)
    assert y.shape == x.shape and torch.equal(y, x) and y.data_ptr() != x.data_ptr()
    assert frequency_warp(x, 1.07, cfg).shape == x.shape


@pytest.mark.parametrize("freq, alpha", [(500.0, 1.2), (1000.0, 1.15), (2000.0, 0.85), (3000.0, 0.9)])
def test_warped_tone_matches_the_tone_at_the_scaled_frequency(freq, alpha):
    """Stretching a tone's spectrum by alpha puts its peak where a tone at alpha * f peaks."""
    cfg = FeaturesConfig()
    warped = frequency_warp(_tone_fbank(freq, cfg), alpha, cfg).mean(0)  # (M,)
    target = _tone_fbank(alpha * freq, cfg).mean(0)
    assert abs(int(warped.argmax()) - int(target.argmax())) <= 1
    assert int(warped.argmax()) != int(_tone_fbank(freq, cfg).mean(0).argmax())  # it did move


def test_warp_interpolates_between_neighbouring_bins():
    cfg = FeaturesConfig()
    ramp = torch.arange(cfg.num_mel_bins, dtype=torch.float32).expand(3, -1)  # value = bin index
    up = frequency_warp(ramp, 1.1, cfg)[0]
    # Reading a ramp at fractional positions returns the positions; stretching up reads lower bins.
    assert torch.all(up <= ramp[0] + 1e-5) and torch.all(up[1:] > up[:-1])
    assert up[0] == 0.0 and up[-1] < cfg.num_mel_bins - 1


def test_random_warp_is_seeded_and_bounded():
    cfg = FeaturesConfig()
    x = torch.randn(10, cfg.num_mel_bins)
    a = random_frequency_warp(x, 0.1, cfg, torch.Generator().manual_seed(3))
    b = random_frequency_warp(x, 0.1, cfg, torch.Generator().manual_seed(3))
    c = random_frequency_warp(x, 0.1, cfg, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(random_frequency_warp(x, 0.0, cfg), x)
    with pytest.raises(ValueError, match=r"spec_augment.freq_warp=0.7 must be in \[0, 0.5\)"):
        random_frequency_warp(x, 0.7, cfg)
    with pytest.raises(ValueError, match=r"expects \(\.\.\., T, 80\) log-mel features, got \(4, 40\)"):
        frequency_warp(torch.randn(4, 40), 1.1, cfg)
