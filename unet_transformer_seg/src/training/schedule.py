"""Learning-rate schedule: linear warmup, then cosine decay, as a pure function of the step.

A pure function (no scheduler object with hidden state) means a resumed run needs
nothing but the step counter to continue the schedule exactly.
"""

from __future__ import annotations

import math


def lr_at(step: int, *, base_lr: float, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0) -> float:
    """The learning rate for optimizer step ``step`` (0-based) of ``total_steps``.

    Warmup ramps linearly from base_lr / warmup_steps (step 0) to base_lr (step
    warmup_steps - 1), so the very first update is already non-zero. The cosine then
    goes from base_lr to ``base_lr * min_lr_ratio`` at the last step:

        lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * t)) / 2,   t in [0, 1].
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    decay_steps = total_steps - warmup_steps
    if decay_steps <= 1:
        return base_lr
    t = min(max((step - warmup_steps) / (decay_steps - 1), 0.0), 1.0)
    min_lr = base_lr * min_lr_ratio
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))
