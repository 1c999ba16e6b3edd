"""Dataset-level segmentation metrics from one accumulated confusion matrix.

``confusion[t, p]`` counts the labelled pixels of true class t predicted as p over
every ``update`` since the last ``reset``. All scores come from it at the end, so
they are dataset-level (every pixel weighs the same), not a mean of per-batch
scores, and a DDP run gets exact global scores by all-reducing ``confusion``
(a sum) before ``compute``.

Per class c, with TP = confusion[c, c], FP = column sum - TP, FN = row sum - TP:

    Dice_c = 2 TP / (2 TP + FP + FN)        IoU_c = TP / (TP + FP + FN)

Convention for a class absent from both target and prediction (TP = FP = FN = 0):
its Dice and IoU are NaN (undefined, there was nothing to find and nothing was
predicted) and it is left out of the means, so it neither rewards nor punishes
the model. A class that is predicted but absent from the target scores 0 and
does count. ``mean_dice``/``mean_iou`` average the foreground classes 1..K-1; if
every foreground class is absent from both, they are NaN. ``pixel_accuracy`` is
NaN when no labelled pixel was seen.

K = 1 (one sigmoid logit) is treated as binary: labels are {0, 1}, logits are
thresholded at 0 (probability 0.5), the matrix is 2x2 and the foreground mean is
class 1's score. Generally ``confusion`` is (C, C) with C = max(K, 2).
"""

from __future__ import annotations

import math

import torch


class SegMetrics:
    """Accumulate a confusion matrix with ``update``; ``compute`` returns Dice, IoU and pixel accuracy."""

    def __init__(self, num_classes: int, ignore_index: int = 255, class_names: list[str] | None = None) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.n = max(num_classes, 2)  # rows/columns of the matrix; K = 1 is binary
        if not class_names:
            class_names = [f"class_{i}" for i in range(self.n)]
        elif num_classes == 1 and len(class_names) == 1:
            class_names = ["background", class_names[0]]  # a single name is the foreground's
        if len(class_names) != self.n:
            raise ValueError(
                f"got {len(class_names)} class names for {self.n} classes; "
                f"set data.class_names to {self.n} names (background first) or leave it empty"
            )
        self.class_names = list(class_names)
        # Public so that DDP can all-reduce it; rows = target, columns = prediction.
        self.confusion = torch.zeros(self.n, self.n, dtype=torch.int64)

    def reset(self) -> None:
        """Forget every update (e.g. at the start of a validation pass)."""
        self.confusion = torch.zeros(self.n, self.n, dtype=torch.int64, device=self.confusion.device)

    def _to_labels(self, preds: torch.Tensor) -> torch.Tensor:
        if preds.dim() == 4:  # logits (B, K, H, W)
            if preds.shape[1] != self.num_classes:
                raise ValueError(f"expected logits (B, K={self.num_classes}, H, W), got {tuple(preds.shape)}")
            if self.num_classes == 1:
                return (preds[:, 0] > 0).long()  # (B, H, W): sigmoid(logit) > 0.5
            return preds.argmax(dim=1)  # (B, H, W)
        if preds.dim() == 3:  # labels (B, H, W)
            if preds.is_floating_point():
                raise TypeError(f"(B, H, W) predictions must be integer labels, got {preds.dtype}")
            if bool(((preds < 0) | (preds >= self.n)).any()):
                raise ValueError(f"predicted labels must lie in [0, {self.n}), got values {preds.unique().tolist()[:10]}")
            return preds.long()
        raise ValueError(f"expected logits (B, K, H, W) or labels (B, H, W), got shape {tuple(preds.shape)}")

    @torch.no_grad()
    def update(self, logits_or_labels: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: logits (B, K, H, W) float or labels (B, H, W) int, target (B, H, W) int64 with ignore_index."""
        pred = self._to_labels(logits_or_labels)  # (B, H, W)
        if pred.shape != target.shape:
            raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} must both be (B, H, W)")
        valid = target != self.ignore_index  # (B, H, W)
        t = target[valid].long()  # (P,) labelled pixels only
        p = pred[valid]  # (P,)
        if bool(((t < 0) | (t >= self.n)).any()):
            bad = sorted(set(t[(t < 0) | (t >= self.n)].unique().tolist()))[:10]
            raise ValueError(
                f"target holds labels {bad} outside [0, {self.n}) that are not ignore_index={self.ignore_index}; "
                f"check model.num_classes and data.ignore_index"
            )
        # Each (t, p) pair gets the flat index t * C + p; one bincount fills the matrix.
        counts = torch.bincount(t * self.n + p, minlength=self.n * self.n).reshape(self.n, self.n)  # (C, C)
        if self.confusion.device != counts.device:
            self.confusion = self.confusion.to(counts.device)
        self.confusion += counts

    def compute(self) -> dict:
        """Scores from everything seen since ``reset``, as Python floats (NaN where undefined, see module doc).

        Returns:
            {"mean_dice", "mean_iou", "pixel_accuracy", "per_class": {name: {"dice", "iou"}}}.
        """
        cm = self.confusion.detach().cpu().double()  # (C, C)
        tp = cm.diag()  # (C,)
        fp = cm.sum(dim=0) - tp  # predicted c, truly something else
        fn = cm.sum(dim=1) - tp  # truly c, predicted something else
        nan = torch.full_like(tp, math.nan)
        dice_den = 2 * tp + fp + fn
        iou_den = tp + fp + fn
        dice = torch.where(dice_den > 0, 2 * tp / dice_den.clamp_min(1), nan)  # (C,)
        iou = torch.where(iou_den > 0, tp / iou_den.clamp_min(1), nan)  # (C,)
        total = cm.sum()
        return {
            # nanmean skips absent classes; it is NaN when all foreground classes are absent.
            "mean_dice": float(dice[1:].nanmean()),
            "mean_iou": float(iou[1:].nanmean()),
            "pixel_accuracy": float(tp.sum() / total) if total > 0 else math.nan,
            "per_class": {
                name: {"dice": float(dice[i]), "iou": float(iou[i])} for i, name in enumerate(self.class_names)
            },
        }
