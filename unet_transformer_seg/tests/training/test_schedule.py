"""Warmup + cosine schedule values."""

import math

import pytest

from src.training.schedule import lr_at


def test_warmup_is_linear_and_reaches_base():
    kw = dict(base_lr=1.0, warmup_steps=4, total_steps=20)
    assert [lr_at(s, **kw) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]


def test_cosine_ends_at_min_lr_and_is_monotone():
    kw = dict(base_lr=2.0, warmup_steps=2, total_steps=12, min_lr_ratio=0.1)
    lrs = [lr_at(s, **kw) for s in range(12)]
    assert lrs[2] == pytest.approx(2.0)
    assert lrs[-1] == pytest.approx(0.2)
    assert all(a >= b for a, b in zip(lrs[2:], lrs[3:]))
    # Halfway through the decay the cosine is at the mean of base and min.
    kw = dict(base_lr=2.0, warmup_steps=0, total_steps=11, min_lr_ratio=0.1)
    assert lr_at(5, **kw) == pytest.approx(1.1)


def test_no_warmup_starts_at_base_and_clamps_past_end():
    kw = dict(base_lr=1.0, warmup_steps=0, total_steps=10, min_lr_ratio=0.0)
    assert lr_at(0, **kw) == 1.0
    assert lr_at(50, **kw) == pytest.approx(0.0, abs=1e-12)


def test_invalid_total():
    with pytest.raises(ValueError, match="total_steps"):
        lr_at(0, base_lr=1.0, warmup_steps=0, total_steps=0)


def test_extension_is_a_fresh_cosine_from_the_current_lr():
    kw = dict(base_lr=1.0, warmup_steps=2, total_steps=20, min_lr_ratio=0.1)
    current = lr_at(9, **kw)  # the last step of the first 10
    ext = dict(kw, restart_step=10, restart_lr=current)
    assert lr_at(10, **ext) == pytest.approx(current)  # continues where it was: no jump
    assert lr_at(19, **ext) == pytest.approx(0.1)  # ends at min_lr on the new horizon
    lrs = [lr_at(s, **ext) for s in range(10, 20)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert lr_at(5, **ext) == lr_at(5, **kw)  # steps before the restart are untouched
    # a finished run (at min_lr) that is extended stays at min_lr
    assert lr_at(25, **dict(kw, total_steps=40, restart_step=20, restart_lr=0.1)) == pytest.approx(0.1)
