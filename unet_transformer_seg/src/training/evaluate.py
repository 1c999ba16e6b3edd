"""Validation pass: dataset-level metrics, mean losses and a few predictions to draw."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch
import torch.nn as nn
from torch.utils.data import DataLoader


def labels_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """(B, K, H, W) logits -> (B, H, W) int64 class ids; K = 1 is one sigmoid logit thresholded at 0.5."""
    if logits.shape[1] == 1:
        return (logits[:, 0] > 0).long()
    return logits.argmax(1)


def autocast_context(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` for ``dtype`` on ``device``, or a no-op when ``dtype`` is None (fp32)."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    *,
    metrics: Any,
    device: torch.device,
    loss_fn: nn.Module | None = None,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    keep: int = 0,
    per_case: Any = None,
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Run ``model`` over ``loader`` once.

    Metrics accumulate one confusion matrix over the whole split (``metrics`` is a
    SegMetrics), so they are dataset-level (pooled) scores, not means of per-batch scores.
    ``per_case`` (a PerCaseMetrics, optional) also scores every image on its own
    (nnU-Net's convention); its ``compute()`` lands in ``results["per_case"]``.

    Returns:
        results: ``metrics.compute()`` plus ``loss``/``loss_<term>`` means (when ``loss_fn``).
        vis: the first ``keep`` samples: ``images`` (n,3,H,W), ``masks`` (n,H,W), ``preds`` (n,H,W).
    """
    was_training = model.training
    model.eval()
    metrics.reset()
    if per_case is not None:
        per_case.reset()
    sums: dict[str, float] = {}
    n_batches = 0
    vis: dict[str, list[torch.Tensor]] = {"images": [], "masks": [], "preds": []}
    for images, masks in loader:
        images = images.to(device, non_blocking=True)  # (B, 3, H, W)
        masks = masks.to(device, non_blocking=True)  # (B, H, W)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast_context(device, autocast_dtype):
            logits = model(images)  # (B, K, H, W)
        logits = logits.float()
        metrics.update(logits, masks)
        if per_case is not None:
            per_case.update(labels_from_logits(logits), masks)
        if loss_fn is not None:
            for k, v in loss_fn(logits, masks).items():
                sums[k] = sums.get(k, 0.0) + float(v)
        n_batches += 1
        have = sum(len(x) for x in vis["images"])
        if have < keep:
            take = keep - have
            vis["images"].append(images[:take].float().cpu())
            vis["masks"].append(masks[:take].cpu())
            vis["preds"].append(labels_from_logits(logits[:take]).cpu())  # (b, H, W); K = 1: sigmoid > 0.5
    model.train(was_training)
    results: dict[str, Any] = dict(metrics.compute())
    if per_case is not None:
        results["per_case"] = per_case.compute()
    for k, v in sums.items():
        results["loss" if k == "loss" else f"loss_{k}"] = v / max(n_batches, 1)
    return results, {k: torch.cat(v) if v else torch.empty(0) for k, v in vis.items()}
