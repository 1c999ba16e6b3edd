"""Learning-rate schedule: linear warmup, then cosine decay, as a pure function of the step.

A pure function (no scheduler object with hidden state) means a resumed run needs
nothing but the step counter to continue the schedule exactly.

Extending a run (``--resume ... --override training.num_epochs=N`` with more steps than
before) must not recompute the cosine over the new horizon: at step s of 100 planned,
lr is near the floor, and the same s on a 200-step cosine is back near base_lr (an 11x
jump in review). Definition used here: an extension starts a **fresh cosine from the
current lr**. At ``restart_step`` (the step the resumed run continues from) the lr is
``restart_lr`` (the lr of the last step taken), and it decays by a half cosine to
``min_lr`` at the new last step, with no second warmup. A run that had already reached
``min_lr`` therefore continues at ``min_lr``; shortening works the same way.
"""

from __future__ import annotations

import math


def lr_at(step: int, *, base_lr: float, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0,
          restart_step: int = 0, restart_lr: float | None = None) -> float:
    """The learning rate for optimizer step ``step`` (0-based) of ``total_steps``.

    Warmup ramps linearly from base_lr / warmup_steps (step 0) to base_lr (step
    warmup_steps - 1), so the very first update is already non-zero. The cosine then
    goes from base_lr to ``base_lr * min_lr_ratio`` at the last step:

        lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * t)) / 2,   t in [0, 1].

    With ``restart_lr`` set, steps from ``restart_step`` on follow the extension cosine
    (module doc): the same formula with base_lr -> restart_lr and t measured from
    restart_step to total_steps - 1.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if restart_lr is not None and step >= restart_step:
        min_lr = min(base_lr * min_lr_ratio, restart_lr)
        span = total_steps - 1 - restart_step
        t = min(max((step - restart_step) / span, 0.0), 1.0) if span > 0 else 1.0
        return min_lr + (restart_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    decay_steps = total_steps - warmup_steps
    if decay_steps <= 1:
        return base_lr
    t = min(max((step - warmup_steps) / (decay_steps - 1), 0.0), 1.0)
    min_lr = base_lr * min_lr_ratio
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))
