"""Segmentation losses: ``build_loss(cfg.loss, num_classes, ignore_index)``."""

from __future__ import annotations

from src.losses.cross_entropy import seg_cross_entropy
from src.losses.dice import soft_dice_loss
from src.losses.seg_loss import SegLoss
from src.utils.config import LossConfig

# loss.name -> which terms are trained (a term left out is still logged, detached).
_TERMS = {"ce": (True, False), "dice": (False, True), "ce_dice": (True, True)}


def build_loss(cfg: LossConfig, num_classes: int, ignore_index: int = 255) -> SegLoss:
    """SegLoss whose forward(logits (B,K,H,W), target (B,H,W) int64) returns {"loss", "ce", "dice"}."""
    if cfg.name not in _TERMS:
        raise ValueError(f"unknown loss.name {cfg.name!r}; valid names: {', '.join(_TERMS)}")
    use_ce, use_dice = _TERMS[cfg.name]
    return SegLoss(
        num_classes=num_classes,
        ignore_index=ignore_index,
        ce_weight=cfg.ce_weight if use_ce else 0.0,
        dice_weight=cfg.dice_weight if use_dice else 0.0,
        dice_smooth=cfg.dice_smooth,
        dice_include_background=cfg.dice_include_background,
    )


__all__ = ["SegLoss", "build_loss", "seg_cross_entropy", "soft_dice_loss"]
