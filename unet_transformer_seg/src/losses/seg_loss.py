"""The training loss: weighted cross-entropy + soft Dice, returned as a named dict."""

from __future__ import annotations

import torch
import torch.nn as nn

from src.losses.cross_entropy import seg_cross_entropy
from src.losses.dice import soft_dice_loss


class SegLoss(nn.Module):
    """loss = ce_weight * CE + dice_weight * Dice; forward returns {"loss", "ce", "dice"}."""

    def __init__(
        self,
        *,
        num_classes: int,
        ignore_index: int = 255,
        ce_weight: float = 1.0,
        dice_weight: float = 1.0,
        dice_smooth: float = 1.0,
        dice_include_background: bool = True,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if ce_weight < 0 or dice_weight < 0 or ce_weight + dice_weight == 0:
            raise ValueError(
                f"loss weights must be >= 0 and not both 0, got ce_weight={ce_weight}, dice_weight={dice_weight}"
            )
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.ce_weight = ce_weight
        self.dice_weight = dice_weight
        self.dice_smooth = dice_smooth
        self.dice_include_background = dice_include_background

    def _check(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        if logits.dim() != 4 or logits.shape[1] != self.num_classes:
            raise ValueError(f"expected logits (B, K={self.num_classes}, H, W), got {tuple(logits.shape)}")
        if target.shape != (logits.shape[0], *logits.shape[2:]):
            raise ValueError(
                f"target must be (B, H, W) = {(logits.shape[0], *logits.shape[2:])} to match the logits, "
                f"got {tuple(target.shape)}"
            )
        if target.dtype != torch.long:
            raise TypeError(f"target must be int64 class ids, got {target.dtype}; use mask.long()")
        # A label >= K would make F.cross_entropy fail with an opaque (on CUDA: asynchronous)
        # error, so name the bad values here. K = 1 is binary: labels 0 and 1.
        n_labels = max(self.num_classes, 2)
        bad = (target != self.ignore_index) & ((target < 0) | (target >= n_labels))  # (B, H, W)
        if bool(bad.any()):
            values = sorted(set(target[bad].unique().tolist()))[:10]
            raise ValueError(
                f"target holds labels {values} outside [0, {n_labels}) that are not ignore_index={self.ignore_index}; "
                f"check model.num_classes and data.ignore_index"
            )

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """logits (B, K, H, W) float, target (B, H, W) int64 -> {"loss", "ce", "dice"} scalar float32 tensors.

        A term whose weight is 0 is still computed for logging, but detached.
        """
        self._check(logits, target)
        # Under AMP the logits may be bf16/fp16; the softmax sums of Dice need float32.
        logits = logits.float()
        ce = seg_cross_entropy(logits, target, self.ignore_index)
        dice = soft_dice_loss(
            logits,
            target,
            ignore_index=self.ignore_index,
            smooth=self.dice_smooth,
            include_background=self.dice_include_background,
        )
        # The weighting happens here and only here.
        loss = logits.new_zeros(())
        if self.ce_weight > 0:
            loss = loss + self.ce_weight * ce
        else:
            ce = ce.detach()
        if self.dice_weight > 0:
            loss = loss + self.dice_weight * dice
        else:
            dice = dice.detach()
        return {"loss": loss, "ce": ce, "dice": dice}
