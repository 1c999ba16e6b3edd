"""Comparing runs: a markdown table from each run's metrics.json and a PNG of their val curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from src.utils.logging import LATEST  # noqa: E402


def load_runs(runs_dir: str | Path) -> list[dict[str, Any]]:
    """``{"name", "history"}`` for every run folder in ``runs_dir`` with a non-empty metrics.json, by name."""
    runs = []
    for d in sorted(Path(runs_dir).iterdir()) if Path(runs_dir).is_dir() else []:
        if d.name == LATEST or not (d / "metrics.json").is_file():
            continue
        history = json.loads((d / "metrics.json").read_text())
        if history:
            runs.append({"name": d.name, "history": history})
    return runs


def summarize(run: dict[str, Any]) -> dict[str, Any]:
    """One row: the best epoch by val mean Dice and the run's totals."""
    h = run["history"]
    best = max(h, key=lambda r: r.get("val_mean_dice", float("-inf")))
    last = h[-1]
    return {"run": run["name"], "model": last.get("model_type", "?"), "params": last.get("num_params"),
            "epochs": last["epoch"], "steps": last["step"], "train_time_s": last.get("train_time_s"),
            "images_per_s": (sum(r.get("images_per_s", 0.0) for r in h) / len(h)),
            "best_epoch": best["epoch"], "val_mean_dice": best.get("val_mean_dice"),
            "val_mean_iou": best.get("val_mean_iou"),
            "per_class": {k[len("val_dice_"):]: (best[k], best.get("val_iou_" + k[len("val_dice_"):]))
                          for k in best if k.startswith("val_dice_")}}


def _num(v: Any, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Runs side by side; per-class columns are Dice / IoU at the best epoch."""
    classes: list[str] = []
    for r in rows:
        classes += [c for c in r["per_class"] if c not in classes]
    head = ["run", "model", "params", "epochs", "steps", "train time (s)", "train img/s",
            "best epoch", "val mean Dice", "val mean IoU"] + [f"{c} Dice / IoU" for c in classes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["run"], r["model"], _num(r["params"], ","), str(r["epochs"]), str(r["steps"]),
                 _num(r["train_time_s"], ".1f"), _num(r["images_per_s"], ".1f"), str(r["best_epoch"]),
                 _num(r["val_mean_dice"], ".4f"), _num(r["val_mean_iou"], ".4f")]
        for c in classes:
            d, i = r["per_class"].get(c, (None, None))
            cells.append(f"{_num(d, '.3f')} / {_num(i, '.3f')}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_runs(runs: list[dict[str, Any]], path: str | Path) -> Path:
    """Val mean Dice and val loss against the epoch, one line per run."""
    fig, (ax_dice, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    for run in runs:
        epochs = [r["epoch"] for r in run["history"]]
        ax_dice.plot(epochs, [r.get("val_mean_dice", float("nan")) for r in run["history"]], marker="o",
                     label=run["name"])
        ax_loss.plot(epochs, [r.get("val_loss", float("nan")) for r in run["history"]], marker="o", label=run["name"])
    ax_dice.set(xlabel="epoch", ylabel="val mean Dice (foreground)", ylim=(0, 1))
    ax_dice.grid(alpha=0.3)
    ax_loss.set(xlabel="epoch", ylabel="val loss", yscale="log")
    ax_dice.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
