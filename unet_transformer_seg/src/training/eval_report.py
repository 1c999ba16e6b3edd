"""Evaluating a checkpoint on a split (what ``scripts/eval.py`` does) and printing the results."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from src.data.folder import FolderDataset, FolderDatasetError, list_pairs, read_image, read_mask, split_indices
from src.data.loaders import build_dataloaders, build_datasets, build_toy_split, class_names, folder_kwargs
from src.data.transforms import resize_image
from src.losses import build_loss
from src.metrics.per_case import PerCaseMetrics
from src.metrics.seg_metrics import SegMetrics
from src.training.evaluate import evaluate, labels_from_logits
from src.training.plots import plot_predictions
from src.training.predict import load_trained, predict_logits, to_model_input
from src.utils.amp import keep_norms_fp32, parse_amp, resolve_amp
from src.utils.tensor_utils import resolve_device


CONVENTIONS = (
    "pooled = one confusion matrix over every labelled pixel of the split (Dice 2TP/(2TP+FP+FN)); "
    "per-case = nnU-Net: Dice per image and class, NaN when the class is absent from both the image's "
    "target and prediction, nanmean over images, then over the foreground classes")


def resolve_split(cfg, split: str) -> str:
    """``auto`` -> ``test`` where the config has a held-out test split (toy shapes; folder with
    ``data.test_root``), else ``val``; an explicit ``test`` without one is an error."""
    has_test = cfg.data.dataset == "toy_shapes" or bool(cfg.data.test_root)
    if split == "auto":
        return "test" if has_test else "val"
    if split == "test" and not has_test:
        raise FolderDatasetError("this folder config has no test split: set data.test_root=DIR "
                                 "(--override data.test_root=DIR) or pass --data-dir DIR")
    if split not in ("val", "test"):
        raise ValueError(f"unknown split {split!r}; use auto, val or test")
    return split


def folder_split_pairs(cfg, split: str) -> tuple[FolderDataset, str]:
    """The checked FolderDataset (no transform) of a folder config's ``val`` or ``test`` split."""
    d, kw = cfg.data, folder_kwargs(cfg)
    if split == "test":
        return FolderDataset(d.test_root, **kw), f"test split {d.test_root}"
    if d.val_root:
        return FolderDataset(d.val_root, **kw), f"validation split {d.val_root} (it picked best.pt)"
    _, val_idx = split_indices(len(list_pairs(Path(d.root))), d.val_fraction, d.seed)
    return FolderDataset(d.root, indices=val_idx, **kw), f"validation split of {d.root} (it picked best.pt)"


@torch.no_grad()
def evaluate_native(model, ds: FolderDataset, cfg, *, device, precision, metrics: SegMetrics,
                    per_case: PerCaseMetrics, loss_fn=None, keep: int = 0, **predict_kw) -> tuple[dict, dict]:
    """Score every pair of ``ds`` at its native resolution, with the masks ``infer.py`` writes.

    Each image goes through ``predict_logits`` (the same mode, tile and precision as
    infer), and the labels are compared with the original mask pixels: no resizing of
    the target, so thin structures are scored at the size they have on disk.
    """
    metrics.reset()
    per_case.reset()
    sums: dict[str, float] = {}
    vis: dict[str, list] = {"images": [], "masks": [], "preds": []}
    s = cfg.data.image_size
    for img_path, mask_path in tqdm(ds.pairs, desc="eval (native size)", leave=False, dynamic_ncols=True):
        image = read_image(img_path, ds.intensity_range)  # (H, W, 3) float32, upright
        target = torch.from_numpy(read_mask(mask_path, ds.mask_format))[None]  # (1, H, W)
        with precision.autocast():
            logits = predict_logits(model, image, cfg, device=device, **predict_kw)  # (1, K, H, W) fp32
        pred = labels_from_logits(logits)  # (1, H, W)
        metrics.update(pred, target)
        per_case.update(pred, target)
        if loss_fn is not None:
            for k, v in loss_fn(logits, target).items():
                sums[k] = sums.get(k, 0.0) + float(v)
        if len(vis["images"]) < keep:  # drawn at the training size, so that the panels stack
            vis["images"].append(resize_image(to_model_input(image, cfg), (s, s))[0])
            small = F.interpolate(torch.stack([target, pred]).float(), size=(s, s), mode="nearest-exact")
            vis["masks"].append(small[0, 0].long())
            vis["preds"].append(small[1, 0].long())
    results: dict[str, Any] = dict(metrics.compute())
    results["per_case"] = per_case.compute()
    for k, v in sums.items():  # per-image means
        results["loss" if k == "loss" else f"loss_{k}"] = v / max(len(ds), 1)
    return results, {k: torch.stack(v) if v else torch.empty(0) for k, v in vis.items()}


def evaluate_checkpoint(
    checkpoint: str | Path,
    *,
    data_dir: str | Path | None = None,
    split: str = "auto",
    device: str = "auto",
    overrides: list[str] | None = None,
    save_vis: int = 0,
    vis_path: str | Path | None = None,
    amp: str | bool = "auto",
    mode: str = "resize",
    tile: int | None = None,
    overlap: float = 0.5,
    tile_batch: int = 4,
) -> dict[str, Any]:
    """Metrics of ``checkpoint`` on the folder dataset ``data_dir`` (every pair in it), or on
    a split of the checkpoint's own data config: ``split`` = ``test`` (held out, never used to
    pick best.pt), ``val`` (the split that picked best.pt) or ``auto`` (test where there is one).

    Folder data is scored at each image's native resolution, with the masks ``infer.py``
    writes for the same ``mode``/``tile``/``overlap``/``amp`` (see :func:`evaluate_native`);
    toy shapes are generated at ``data.image_size``, their native size.

    ``amp``: ``auto|true|false`` as ``training.amp`` (src/utils/amp.py): bf16 autocast where
    the CPU or GPU has native bf16.

    Returns the pooled scores ``mean_dice, mean_iou, pixel_accuracy, per_class`` (the JSON
    keys, as before), ``per_case`` (nnU-Net's convention, same layout plus ``num_cases``),
    ``conventions`` (what each means), ``loss``, ``num_images``, ``data``, ``split``,
    ``resolution``, ``mode``, ``checkpoint`` and ``amp`` (the precision used, and why).
    """
    dev = resolve_device(device)
    precision = resolve_amp(parse_amp(amp), dev)
    model, cfg, ckpt = load_trained(checkpoint, dev, overrides)
    keep_norms_fp32(model)
    names = ckpt.get("class_names") or class_names(cfg)
    metrics = SegMetrics(cfg.model.num_classes, cfg.data.ignore_index, names)
    per_case = PerCaseMetrics(cfg.model.num_classes, cfg.data.ignore_index, names)
    loss_fn = build_loss(cfg.loss, cfg.model.num_classes, cfg.data.ignore_index)
    if data_dir is not None or cfg.data.dataset == "folder":
        if data_dir is not None:
            ds, where, split = FolderDataset(data_dir, **folder_kwargs(cfg)), str(data_dir), "data-dir"
        else:
            split = resolve_split(cfg, split)
            ds, where = folder_split_pairs(cfg, split)
        results, vis = evaluate_native(model, ds, cfg, device=dev, precision=precision, metrics=metrics,
                                       per_case=per_case, loss_fn=loss_fn, keep=save_vis, mode=mode, tile=tile,
                                       overlap=overlap, tile_batch=tile_batch)
        resolution = "native (each image at its own size; predictions as infer.py makes them)"
    else:
        if mode != "resize":
            raise ValueError(f"--mode {mode} applies to folder data; toy shapes are scored at data.image_size")
        split = resolve_split(cfg, split)
        ds = build_datasets(cfg)[1] if split == "val" else build_toy_split(cfg, "test")
        where = f"toy_shapes {'test split (held out)' if split == 'test' else 'validation split (it picked best.pt)'}"
        _, loader = build_dataloaders(cfg, datasets=(ds, ds))
        results, vis = evaluate(model, loader, metrics=metrics, device=dev, loss_fn=loss_fn, keep=save_vis,
                                autocast_dtype=precision.dtype, per_case=per_case)
        resolution = f"{cfg.data.image_size}x{cfg.data.image_size} (the toy images' own size)"
    if save_vis > 0 and vis_path is not None and len(vis["images"]):
        plot_predictions(vis["images"], vis["masks"], vis["preds"], vis_path, mean=cfg.data.mean, std=cfg.data.std,
                         title=f"{Path(checkpoint).name}: mean Dice {results['mean_dice']:.3f} (pooled)")
    return {**json_safe(results), "conventions": CONVENTIONS, "num_images": len(ds), "data": where,
            "split": split, "resolution": resolution, "mode": mode, "checkpoint": str(checkpoint),
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
    """Markdown: one row per class with pooled Dice/IoU and, when present, per-case Dice/IoU; then the means."""
    pc = results.get("per_case")
    if pc:
        lines = ["| class | Dice (pooled) | IoU (pooled) | Dice (per-case) | IoU (per-case) | cases |",
                 "|---|---|---|---|---|---|"]
        for name, scores in results["per_class"].items():
            c = pc["per_class"][name]
            lines.append(f"| {name} | {_fmt(scores['dice'])} | {_fmt(scores['iou'])} | "
                         f"{_fmt(c['dice'])} | {_fmt(c['iou'])} | {c['cases']} |")
        lines.append(f"| **mean (foreground)** | {_fmt(results['mean_dice'])} | {_fmt(results['mean_iou'])} | "
                     f"{_fmt(pc['mean_dice'])} | {_fmt(pc['mean_iou'])} | {pc['num_cases']} |")
    else:
        lines = ["| class | Dice (pooled) | IoU (pooled) |", "|---|---|---|"]
        for name, scores in results["per_class"].items():
            lines.append(f"| {name} | {_fmt(scores['dice'])} | {_fmt(scores['iou'])} |")
        lines.append(f"| **mean (foreground)** | {_fmt(results['mean_dice'])} | {_fmt(results['mean_iou'])} |")
    lines.append(f"\npixel accuracy {_fmt(results['pixel_accuracy'])} on {results['num_images']} images "
                 f"({results['data']}); n/a = class absent from targets and predictions"
                 + (f"; amp={results['amp']}" if "amp" in results else ""))
    if "resolution" in results:
        lines.append(f"resolution: {results['resolution']}; mode {results.get('mode', 'resize')}")
    if pc:
        lines.append(f"conventions: {results.get('conventions', CONVENTIONS)}")
    return "\n".join(lines)
