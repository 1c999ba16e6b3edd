import math

import pytest

from src.training.schedule import cosine_lr, lr_at, noam_lr
from src.utils.config import TrainingConfig


def test_noam_peaks_at_warmup_then_inverse_sqrt():
    peak, w = 1e-3, 100
    lrs = [noam_lr(s, peak_lr=peak, warmup_steps=w) for s in range(1000)]
    assert lrs[0] == pytest.approx(peak / w)
    assert max(lrs) == pytest.approx(peak) and lrs.index(max(lrs)) == w - 1
    assert all(a < b for a, b in zip(lrs[: w - 1], lrs[1:w]))  # warm-up increases
    assert lrs[4 * w - 1] == pytest.approx(peak / 2)  # sqrt(w / 4w) = 1/2


def test_cosine_warmup_then_decay_to_floor():
    peak, w, total, ratio = 2e-3, 10, 110, 0.05
    lrs = [cosine_lr(s, peak_lr=peak, warmup_steps=w, total_steps=total, min_lr_ratio=ratio) for s in range(200)]
    assert lrs[w - 1] == pytest.approx(peak)
    assert lrs[w - 1 + 50] == pytest.approx(peak * ratio + (peak - peak * ratio) * 0.5)  # half way: cos(pi/2) = 0
    assert lrs[total - 1] == pytest.approx(peak * ratio) and lrs[199] == pytest.approx(peak * ratio)
    assert all(b <= a + 1e-15 for a, b in zip(lrs[w:], lrs[w + 1 :]))


def test_lr_at_dispatches_and_is_pure():
    cfg = TrainingConfig(scheduler="noam", learning_rate=1.0, warmup_steps=4)
    assert lr_at(3, cfg, 100) == pytest.approx(1.0)
    assert lr_at(15, cfg, 100) == pytest.approx(math.sqrt(4 / 16))
    cfg = TrainingConfig(scheduler="cosine", learning_rate=1.0, warmup_steps=0, min_lr_ratio=0.0)
    assert lr_at(99, cfg, 100) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(7, cfg, 100) == lr_at(7, cfg, 100)
