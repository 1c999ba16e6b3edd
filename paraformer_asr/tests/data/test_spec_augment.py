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


def test_zero_masks_is_identity():
    cfg = SpecAugmentConfig(enabled=True, num_freq_masks=0, num_time_masks=0)
    x = torch.rand(7, 5)
    assert torch.equal(spec_augment(x, cfg), x)
