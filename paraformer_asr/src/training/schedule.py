"""Learning-rate schedules as pure functions of the optimizer step.

A pure function (no scheduler object with hidden state) makes resume trivial:
the learning rate of step ``s`` is recomputed from ``s`` alone.
"""

from __future__ import annotations

import math

from src.utils.config import TrainingConfig


def noam_lr(step: int, *, peak_lr: float, warmup_steps: int) -> float:
    """Transformer (Noam) schedule, scaled so that its maximum is ``peak_lr`` at ``warmup_steps``.

    Vaswani et al. use ``d_model^-0.5 * min(s^-0.5, s * w^-1.5)``; dividing by its
    value at ``s = w`` gives ``peak * min(s / w, sqrt(w / s))``: a linear warm-up,
    then inverse-square-root decay (as WeNet's WarmupLR).
    """
    s = step + 1  # step 0 must not get lr 0 (that step would be wasted)
    w = max(warmup_steps, 1)
    return peak_lr * min(s / w, math.sqrt(w / s))


def cosine_lr(step: int, *, peak_lr: float, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> float:
    """Linear warm-up to ``peak_lr``, then half a cosine down to ``peak_lr * min_lr_ratio`` at ``total_steps``."""
    s = step + 1
    if s <= warmup_steps:
        return peak_lr * s / max(warmup_steps, 1)
    progress = min((s - warmup_steps) / max(total_steps - warmup_steps, 1), 1.0)
    floor = peak_lr * min_lr_ratio
    return floor + (peak_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def lr_at(step: int, cfg: TrainingConfig, total_steps: int) -> float:
    """The learning rate for optimizer step ``step`` (0-based) under ``cfg.scheduler``."""
    if cfg.scheduler == "noam":
        return noam_lr(step, peak_lr=cfg.learning_rate, warmup_steps=cfg.warmup_steps)
    if cfg.scheduler == "cosine":
        return cosine_lr(
            step,
            peak_lr=cfg.learning_rate,
            warmup_steps=cfg.warmup_steps,
            total_steps=total_steps,
            min_lr_ratio=cfg.min_lr_ratio,
        )
    raise ValueError(f"unknown training.scheduler {cfg.scheduler!r}; use 'noam' or 'cosine'")
