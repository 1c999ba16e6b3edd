"""Training plots, rewritten every epoch into ``plots/``: curves and a prediction grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from src.data.toy_shapes import colourise  # noqa: E402


def plot_curves(history: list[dict[str, Any]], path: str | Path) -> Path:
    """Loss (train/val) and val mean Dice/IoU against the epoch."""
    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("train_loss", "train"), ("val_loss", "val")):
        if any(key in r for r in history):
            ax_loss.plot(epochs, [r.get(key, np.nan) for r in history], marker="o", label=label)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss", yscale="log")
    ax_loss.legend()
    for key in ("val_mean_dice", "val_mean_iou"):
        ax_metric.plot(epochs, [r.get(key, np.nan) for r in history], marker="o", label=key[4:])
    ax_metric.set(xlabel="epoch", ylim=(0, 1), title="validation (foreground mean)")
    ax_metric.grid(alpha=0.3)
    ax_metric.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def denormalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """(n, 3, H, W) normalised -> (n, H, W, 3) float in [0, 1] for display."""
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    return (images.float().cpu() * s + m).clamp(0, 1).permute(0, 2, 3, 1).numpy()


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend class colours over an (H, W, 3) [0, 1] image; background stays as is."""
    colours = colourise(mask).astype(np.float32) / 255.0  # (H, W, 3)
    fg = (mask > 0)[..., None]
    return np.where(fg, (1 - alpha) * image + alpha * colours, image)


def plot_predictions(
    images: torch.Tensor,
    masks: torch.Tensor,
    preds: torch.Tensor,
    path: str | Path,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    title: str = "",
) -> Path:
    """Grid with one column per sample: image, ground truth overlay, prediction overlay."""
    n = len(images)
    imgs = denormalize(images, mean, std)
    fig, axes = plt.subplots(3, max(n, 1), figsize=(1.6 * max(n, 1), 5), squeeze=False)
    for i in range(n):
        for row, (pic, name) in enumerate(((imgs[i], "image"),
                                           (overlay(imgs[i], masks[i].numpy()), "truth"),
                                           (overlay(imgs[i], preds[i].numpy()), "prediction"))):
            axes[row, i].imshow(pic, interpolation="nearest")
            axes[row, i].set_xticks([])
            axes[row, i].set_yticks([])
            if i == 0:
                axes[row, i].set_ylabel(name)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
