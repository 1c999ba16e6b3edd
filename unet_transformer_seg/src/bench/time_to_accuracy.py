"""Time to accuracy: wall-clock seconds until a training run first reaches val mean Dice >= a target.

What ``scripts/time_to_accuracy.py`` runs for docs/BENCHMARKS.md. Each variant (a set of
``--override``s on one config) is trained by a fresh ``python scripts/train.py`` process,
one after the other (back to back, same machine). The clock starts when the process is
started, so imports, data, compilation, validation and checkpoints all count, as they do
for a user. The harness watches the run's ``metrics.json`` (written after every
validation) and, once the target is reached, stops the run with SIGINT (the trainer
finishes its step and saves, see src/training/trainer.py) so the remaining epochs are
not paid for. ``repeats > 1`` alternates the order (A B, B A, ...) so a change of load on a
shared machine does not always hit the same variant.
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train.py"

# Today's fp32 path (what training did before amp/channels_last auto) against the defaults.
DEFAULT_VARIANTS = {
    "fp32_nchw": ["training.amp=false", "training.channels_last=false"],
    "auto": [],  # training.amp=auto, training.channels_last=auto: bf16 + channels_last on a bf16 CPU
}


@dataclass
class TimeToAccuracyConfig:
    config: str = "configs/unet_baseline.yaml"
    variants: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_VARIANTS))
    target_dice: float = 0.95
    repeats: int = 1
    runs_dir: str = "runs/tta"
    overrides: list[str] = field(default_factory=list)  # applied to every variant
    poll_s: float = 0.5
    stop_at_target: bool = True


def _history(run_dir: Path) -> list[dict[str, Any]]:
    try:
        return json.loads((run_dir / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError):  # not written yet, or caught mid-replace
        return []


def _first_log_line(run_dir: Path) -> str:
    try:
        for line in (run_dir / "train.log").read_text().splitlines():
            if " model " in line:
                return line.split(" ", 2)[-1]
    except OSError:
        pass
    return ""


def run_variant(name: str, overrides: list[str], tta: TimeToAccuracyConfig, *, tag: str) -> dict[str, Any]:
    """Train one variant; return wall seconds to the target (None if never reached) and the run's facts."""
    run_name = f"tta_{name}_{tag}"
    run_dir = Path(tta.runs_dir) / run_name
    cmd = [sys.executable, str(TRAIN_SCRIPT), "--config", tta.config, "--run-name", run_name,
           "--runs-dir", tta.runs_dir, "--override", *tta.overrides, *overrides]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    reached: dict[str, Any] | None = None
    while proc.poll() is None:
        time.sleep(tta.poll_s)
        hits = [r for r in _history(run_dir) if r.get("val_mean_dice", -1.0) >= tta.target_dice]
        if hits and reached is None:
            reached = {"wall_s": time.perf_counter() - start, "row": hits[0]}
            if tta.stop_at_target:
                proc.send_signal(signal.SIGINT)
    total = time.perf_counter() - start
    history = _history(run_dir)
    if reached is None:  # reached in the very last validation, after our last poll
        hits = [r for r in history if r.get("val_mean_dice", -1.0) >= tta.target_dice]
        if hits:
            reached = {"wall_s": total, "row": hits[0]}
    if proc.returncode not in (0, 130) or not history:
        raise RuntimeError(f"variant {name}: train.py exited with {proc.returncode}; see {run_dir}/train.log")
    row = reached["row"] if reached else history[-1]
    return {"variant": name, "overrides": overrides, "run": run_name, "first_log_line": _first_log_line(run_dir),
            "reached": reached is not None, "wall_s_to_target": reached["wall_s"] if reached else None,
            "epoch": row["epoch"], "step": row["step"], "val_mean_dice": row["val_mean_dice"],
            "train_time_s": row["train_time_s"], "process_wall_s": total,
            "images_per_s": sum(r["images_per_s"] for r in history[: row["epoch"]]) / row["epoch"]}


def run_time_to_accuracy(tta: TimeToAccuracyConfig, *, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Every variant ``repeats`` times, the order reversed on every other repeat."""
    names = list(tta.variants)
    rows = []
    for rep in range(tta.repeats):
        for name in (names if rep % 2 == 0 else names[::-1]):
            log(f"repeat {rep + 1}/{tta.repeats}: training {name} {tta.variants[name]} ...")
            row = run_variant(name, tta.variants[name], tta, tag=str(rep + 1))
            row["repeat"] = rep + 1
            rows.append(row)
            wall = f"{row['wall_s_to_target']:.1f} s" if row["reached"] else "not reached"
            log(f"  {name}: val mean Dice >= {tta.target_dice} at epoch {row['epoch']}: {wall}")
    return rows


def markdown_table(rows: list[dict[str, Any]], target: float) -> str:
    lines = [f"| variant | repeat | first log line | reached {target} | wall s to target | epoch | val mean Dice "
             "| train img/s |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        amp = next((p.strip() for p in r["first_log_line"].split("|") if "amp=" in p), "?")
        layout = "channels_last" if "channels_last" in r["first_log_line"] else "NCHW"
        wall = f"{r['wall_s_to_target']:.1f}" if r["reached"] else "-"
        lines.append(f"| {r['variant']} | {r['repeat']} | {amp}, {layout} | {'yes' if r['reached'] else 'NO'} "
                     f"| {wall} | {r['epoch']} | {r['val_mean_dice']:.4f} | {r['images_per_s']:.1f} |")
    return "\n".join(lines)


def verdict(rows: list[dict[str, Any]], *, baseline: str = "fp32_nchw", target_ratio: float = 1.3) -> str:
    """Speed-up in time to accuracy of every other variant over ``baseline`` (medians over repeats)."""

    def median_wall(name: str) -> float | None:
        walls = [r["wall_s_to_target"] for r in rows if r["variant"] == name and r["reached"]]
        if len(walls) < sum(r["variant"] == name for r in rows) or not walls:
            return None  # a repeat that never reached the target has no time
        return statistics.median(walls)

    base = median_wall(baseline)
    lines = []
    for name in dict.fromkeys(r["variant"] for r in rows):
        if name == baseline:
            continue
        wall = median_wall(name)
        if base is None or wall is None:
            lines.append(f"- {name} vs {baseline}: a run did not reach the target, no ratio")
            continue
        ratio = base / wall
        lines.append(f"- {name} vs {baseline}: {base:.1f} s / {wall:.1f} s = {ratio:.2f}x time to accuracy "
                     f"({'meets' if ratio >= target_ratio else 'MISSES'} the {target_ratio}x target)")
    return "\n".join(lines)


__all__ = ["DEFAULT_VARIANTS", "TimeToAccuracyConfig", "markdown_table", "run_time_to_accuracy", "verdict"]
