"""Training plots (matplotlib, Agg backend: works without a display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

LOSS_SKIP = ("lr", "epoch", "step", "cer", "wer", "token_accuracy", "sequence_accuracy", "num_utterances")


def plot_curves(history: list[dict[str, Any]], out: str | Path) -> None:
    """Loss terms (train and val) and validation metrics against the optimizer step."""
    if not history:
        return
    steps = [r["step"] for r in history]
    loss_keys = [k for k in history[-1] if (k.startswith("train_") or k.startswith("val_")) and "seconds" not in k]
    metric_keys = [k for k in ("cer", "wer", "token_accuracy", "sequence_accuracy") if k in history[-1]]
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(11, 4))
    for k in loss_keys:
        ax_loss.plot(steps, [r.get(k, float("nan")) for r in history], marker="o", ms=3, label=k,
                     ls="-" if k.startswith("train_") else "--")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.set_yscale("log")
    ax_loss.legend(fontsize=7)
    ax_loss.set_title("losses")
    for k in metric_keys:
        ax_metric.plot(steps, [r.get(k, float("nan")) for r in history], marker="o", ms=3, label=k)
    ax_metric.set_xlabel("step")
    ax_metric.set_ylim(-0.02, 1.02)
    ax_metric.legend(fontsize=7)
    ax_metric.set_title("validation (greedy)")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_cif(
    alphas: torch.Tensor,
    target: str,
    out: str | Path,
    *,
    threshold: float = 1.0,
    hypothesis: str | None = None,
) -> list[int]:
    """CIF weights of one utterance: alpha per subsampled frame, the fire points, the target under them.

    A fire happens where the running sum of alpha crosses a multiple of
    ``threshold``; the k-th fire emits the k-th token, so we write the k-th target
    character under it. Returns the fire frames.

    Args:
        alphas: (T',) weights of one utterance, without padding.
    """
    alphas = alphas.detach().float().cpu()
    cum = torch.cumsum(alphas, 0)  # (T',)
    # frame t fires once for every multiple of the threshold that cum passes in that frame
    fired = torch.floor(cum / threshold + 1e-6) - torch.floor((cum - alphas) / threshold + 1e-6)  # (T',)
    fire_frames = [t for t in range(len(alphas)) for _ in range(int(fired[t]))]
    fig, ax = plt.subplots(figsize=(max(6, len(alphas) / 4), 3.5))
    ax.bar(range(len(alphas)), alphas.numpy(), color="tab:blue", label="alpha")
    ax.plot(range(len(alphas)), (cum % threshold).numpy(), color="tab:gray", lw=0.8, label="integrated (mod threshold)")
    for k, t in enumerate(fire_frames):
        ax.axvline(t, color="tab:red", lw=0.8, ls="--")
        char = target[k] if k < len(target) else "?"
        ax.text(t, -0.12, "_" if char == " " else char, ha="center", va="top", fontsize=9, color="tab:red")
    ax.set_ylim(-0.25, max(1.05, float(alphas.max()) + 0.05))
    ax.set_xlabel("subsampled frame")
    title = f"CIF: {len(fire_frames)} fires, target {len(target)} chars: {target!r}"
    if hypothesis is not None:
        title += f"\nhypothesis: {hypothesis!r}"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return fire_frames
