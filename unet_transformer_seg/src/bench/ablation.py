"""Baseline vs hybrid: train each config in turn, time it, and tabulate the results.

This is what ``scripts/ablate.py`` runs to fill in docs/ABLATIONS.md. Each config is
trained by a fresh ``python scripts/train.py`` process, one after the other, so both
pay the same start-up cost. The train time is that process's wall-clock time (imports,
data, training, validation, plots and checkpoints), which is what the "<= 10 minutes"
target is about; the images/s column counts training steps only.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from src.bench.bench_utils import machine_info as bench_machine_info
from src.training.compare import load_runs, markdown_table, summarize

TARGET_DICE = 0.95
TARGET_SECONDS = 600.0
TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train.py"


def machine_info() -> str:
    """One line naming the machine, for the doc: CPU, cores, torch threads and version, date."""
    m = bench_machine_info(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    load = f", load average {m['load_average_1min']:.2f}" if m["load_average_1min"] is not None else ""
    return (f"{m['cpu']}; {m['logical_cores']} logical cores; torch {m['torch']} with {m['threads']} "
            f"threads; CUDA {'yes' if m['gpu'] else 'no'}{load}; {m['date_utc']} UTC")


def run_ablation(configs: list[str], *, runs_dir: str | Path, overrides: list[str] | None = None,
                 prefix: str = "ablate_") -> list[dict[str, Any]]:
    """Train every config (run name ``<prefix><config stem>``) and return one summary row per run."""
    rows = []
    for config in configs:
        name = prefix + Path(config).stem
        cmd = [sys.executable, str(TRAIN_SCRIPT), "--config", str(config), "--run-name", name,
               "--runs-dir", str(runs_dir)] + (["--override", *overrides] if overrides else [])
        start = time.perf_counter()
        code = subprocess.run(cmd).returncode
        wall = time.perf_counter() - start
        if code != 0:
            raise RuntimeError(f"training {config} failed with exit code {code}; see {Path(runs_dir) / name}/train.log")
        run = next(r for r in load_runs(runs_dir) if r["name"] == name)
        rows.append({**summarize(run), "train_time_s": wall})
    return rows


def verdicts(rows: list[dict[str, Any]]) -> str:
    """One line per run: does it meet val mean Dice >= 0.95 within 10 minutes?"""
    lines = []
    for r in rows:
        ok = (r["val_mean_dice"] or 0.0) >= TARGET_DICE and r["train_time_s"] <= TARGET_SECONDS
        lines.append(f"- {r['run']}: val mean Dice {r['val_mean_dice']:.4f} in {r['train_time_s']:.0f} s -> "
                     f"{'meets' if ok else 'MISSES'} the target (>= {TARGET_DICE} in <= {TARGET_SECONDS:.0f} s)")
    if len(rows) == 2:
        base, hybrid = rows
        lines.append(f"- extra cost of {hybrid['run']} over {base['run']}: "
                     f"{hybrid['train_time_s'] / base['train_time_s']:.2f}x train time, "
                     f"{hybrid['params'] / base['params']:.2f}x parameters")
    return "\n".join(lines)


__all__ = ["machine_info", "markdown_table", "run_ablation", "verdicts"]
