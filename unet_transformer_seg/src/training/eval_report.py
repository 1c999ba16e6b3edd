"""Evaluating a checkpoint on a split (what ``scripts/eval.py`` does) and printing the results."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from src.data.folder import FolderDataset
from src.data.loaders import build_dataloaders, build_datasets, class_names
from src.data.transforms import build_transforms
from src.losses import build_loss
from src.metrics.seg_metrics import SegMetrics
from src.training.evaluate import evaluate
from src.training.plots import plot_predictions
from src.training.predict import load_trained
from src.utils.amp import keep_norms_fp32, parse_amp, resolve_amp
from src.utils.tensor_utils import resolve_device


def evaluate_checkpoint(
    checkpoint: str | Path,
    *,
    data_dir: str | Path | None = None,
    device: str = "auto",
    overrides: list[str] | None = None,
    save_vis: int = 0,
    vis_path: str | Path | None = None,
    amp: str | bool = "auto",
) -> dict[str, Any]:
    """Metrics of ``checkpoint`` on the folder dataset ``data_dir`` (every pair in it), or
    on the validation split of the checkpoint's own data config.

    ``amp``: ``auto|true|false`` as ``training.amp`` (src/utils/amp.py): bf16 autocast where
    the CPU or GPU has native bf16.

    Returns ``mean_dice, mean_iou, pixel_accuracy, per_class`` (the JSON keys), plus
    ``loss``, ``num_images``, ``data``, ``checkpoint`` and ``amp`` (the precision used, and why).
    """
    dev = resolve_device(device)
    precision = resolve_amp(parse_amp(amp), dev)
    model, cfg, ckpt = load_trained(checkpoint, dev, overrides)
    keep_norms_fp32(model)
    if data_dir is not None:
        ds = FolderDataset(data_dir, num_classes=cfg.model.num_classes, mask_format=cfg.data.mask_format,
                           ignore_index=cfg.data.ignore_index,
                           transform=build_transforms(cfg.data, train=False, resize_to=cfg.data.image_size))
        where = str(data_dir)
    else:
        ds = build_datasets(cfg)[1]
        where = f"{cfg.data.dataset} validation split" + (f" of {cfg.data.root}" if cfg.data.root else "")
    _, loader = build_dataloaders(cfg, datasets=(ds, ds))
    names = ckpt.get("class_names") or class_names(cfg)
    metrics = SegMetrics(cfg.model.num_classes, cfg.data.ignore_index, names)
    loss_fn = build_loss(cfg.loss, cfg.model.num_classes, cfg.data.ignore_index)
    results, vis = evaluate(model, loader, metrics=metrics, device=dev, loss_fn=loss_fn, keep=save_vis,
                            autocast_dtype=precision.dtype)
    if save_vis > 0 and vis_path is not None:
        plot_predictions(vis["images"], vis["masks"], vis["preds"], vis_path, mean=cfg.data.mean, std=cfg.data.std,
                         title=f"{Path(checkpoint).name}: mean Dice {results['mean_dice']:.3f}")
    return {**json_safe(results), "num_images": len(ds), "data": where, "checkpoint": str(checkpoint),
            "class_names": list(names), "amp": precision.describe()}


def json_safe(value: Any) -> Any:
    """NaN (an absent class) becomes None, since JSON has no NaN."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return json_safe(value.item())
    return value


def _fmt(v: float | None) -> str:
    return "  n/a" if v is None else f"{v:.4f}"


def format_results_table(results: dict[str, Any]) -> str:
    """A markdown table: one row per class (Dice, IoU), then the foreground means."""
    lines = ["| class | Dice | IoU |", "|---|---|---|"]
    for name, scores in results["per_class"].items():
        lines.append(f"| {name} | {_fmt(scores['dice'])} | {_fmt(scores['iou'])} |")
    lines.append(f"| **mean (foreground)** | {_fmt(results['mean_dice'])} | {_fmt(results['mean_iou'])} |")
    lines.append(f"\npixel accuracy {_fmt(results['pixel_accuracy'])} on {results['num_images']} images "
                 f"({results['data']}); n/a = class absent from targets and predictions"
                 + (f"; amp={results['amp']}" if "amp" in results else ""))
    return "\n".join(lines)
