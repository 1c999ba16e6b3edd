"""Per-case Dice/IoU (nnU-Net's convention), the companion of the dataset-pooled :class:`SegMetrics`.

Two conventions give different numbers on the same predictions, so every report names
the one it uses:

- **pooled** (``SegMetrics``): one confusion matrix over every labelled pixel of the
  split, then ``Dice_c = 2 TP / (2 TP + FP + FN)``. Large images weigh more; a class
  that is tiny in every image still gets a stable score.
- **per-case** (this file, as nnU-Net's ``compute_metrics``): ``Dice_{i,c}`` per image i
  and class c from that image's own counts; NaN when class c is absent from both the
  target and the prediction of image i (nothing to find, nothing predicted: neither
  reward nor penalty); then ``Dice_c = nanmean_i Dice_{i,c}`` and the foreground mean
  is the nanmean over classes 1..K-1 of those. Every image weighs the same, so a
  missed small object in one image costs as much as a missed large one.

K = 1 (one sigmoid logit) is binary, as in ``SegMetrics``: C = max(K, 2) rows.
"""

from __future__ import annotations

import math
import warnings

import torch


class PerCaseMetrics:
    """Collect one row of per-class Dice/IoU per image with ``update``; ``compute`` nanmeans over images."""

    def __init__(self, num_classes: int, ignore_index: int = 255, class_names: list[str] | None = None) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.n = max(num_classes, 2)
        if not class_names:
            class_names = [f"class_{i}" for i in range(self.n)]
        elif num_classes == 1 and len(class_names) == 1:
            class_names = ["background", class_names[0]]
        if len(class_names) != self.n:
            raise ValueError(f"got {len(class_names)} class names for {self.n} classes; "
                             f"set data.class_names to {self.n} names (background first) or leave it empty")
        self.class_names = list(class_names)
        self.reset()

    def reset(self) -> None:
        self.dice_rows: list[torch.Tensor] = []  # one (C,) float64 row per image, NaN = absent from both
        self.iou_rows: list[torch.Tensor] = []

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add images: labels ``pred`` (B, H, W) or (H, W) int, ``target`` of the same shape with ignore_index.

        Images may differ in size between calls (native-resolution evaluation), so the
        caller passes labels, one image or a batch of equal-sized ones at a time.
        """
        if pred.is_floating_point():
            raise TypeError(f"PerCaseMetrics.update takes integer labels, got {pred.dtype}; argmax the logits first")
        if pred.shape != target.shape:
            raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} must have one shape")
        if pred.dim() == 2:
            pred, target = pred[None], target[None]
        if pred.dim() != 3:
            raise ValueError(f"expected labels (B, H, W) or (H, W), got shape {tuple(pred.shape)}")
        for p, t in zip(pred, target):
            valid = t != self.ignore_index  # (H, W)
            t, p = t[valid].long(), p[valid].long()  # (P,)
            bad = (t < 0) | (t >= self.n) | (p < 0) | (p >= self.n)
            if bool(bad.any()):
                raise ValueError(f"labels outside [0, {self.n}) that are not ignore_index={self.ignore_index}: "
                                 f"{sorted(set(torch.cat([t[bad], p[bad]]).tolist()))[:10]}; check model.num_classes")
            cm = torch.bincount(t * self.n + p, minlength=self.n * self.n).reshape(self.n, self.n).double()  # (C, C)
            tp = cm.diag()
            fp, fn = cm.sum(0) - tp, cm.sum(1) - tp
            nan = torch.full_like(tp, math.nan)
            self.dice_rows.append(torch.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn).clamp_min(1), nan))
            self.iou_rows.append(torch.where(tp + fp + fn > 0, tp / (tp + fp + fn).clamp_min(1), nan))

    def compute(self) -> dict:
        """{"mean_dice", "mean_iou", "num_cases", "per_class": {name: {"dice", "iou", "cases"}}}.

        ``cases`` counts the images in which the class was present in the target or the
        prediction (the ones its nanmean averages). NaN where no image defines a score.
        """
        if not self.dice_rows:
            nan_class = {"dice": math.nan, "iou": math.nan, "cases": 0}
            return {"mean_dice": math.nan, "mean_iou": math.nan, "num_cases": 0,
                    "per_class": {n: dict(nan_class) for n in self.class_names}}
        dice = torch.stack(self.dice_rows)  # (N, C)
        iou = torch.stack(self.iou_rows)  # (N, C)
        with warnings.catch_warnings():  # an all-NaN column is a NaN score, not a warning
            warnings.simplefilter("ignore")
            dice_c, iou_c = dice.nanmean(0), iou.nanmean(0)  # (C,)
        cases = (~dice.isnan()).sum(0)  # (C,)
        return {
            "mean_dice": float(dice_c[1:].nanmean()),
            "mean_iou": float(iou_c[1:].nanmean()),
            "num_cases": int(dice.shape[0]),
            "per_class": {name: {"dice": float(dice_c[i]), "iou": float(iou_c[i]), "cases": int(cases[i])}
                          for i, name in enumerate(self.class_names)},
        }
