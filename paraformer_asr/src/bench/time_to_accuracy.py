"""Time to accuracy: wall time until the validation split reaches a token and a sequence accuracy.

Each variant (fp32, bf16, ...) trains the same config from the same seed with its own
overrides; after every epoch the trainer validates (greedy) and the run stops at the
first epoch whose token accuracy and sequence accuracy both reach the targets
(``train(stop_when=...)``). The cosine schedule still spans the config's full
``num_epochs``, so stopping early does not change the trajectory up to that point.

Measured: wall seconds from the ``train()`` call to the moment the target epoch's
validation is done (data, training, validation and checkpoint writes all count), the
trainer's own training seconds, and the epoch and step. Variants run back to back and,
with ``repeats > 1``, alternate (fp32, bf16, fp32, bf16, ...), so load that comes and
goes on a shared machine hits them alike.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from src.training.trainer import train
from src.utils.config import load_config
from src.utils.logging import make_run_dir


@dataclass
class TimeToAccuracyConfig:
    """The single source of the defaults (``scripts/time_to_accuracy.py`` flags mirror these)."""

    config: str = "configs/paraformer_base.yaml"
    # name=override,override,...: each variant's overrides on top of the config
    variants: list[str] = field(default_factory=lambda: ["fp32=training.amp=false", "bf16=training.amp=true"])
    overrides: list[str] = field(default_factory=list)  # applied to every variant
    token_accuracy: float = 0.99
    sequence_accuracy: float = 0.95
    repeats: int = 1
    runs_dir: str = "runs/time_to_accuracy"


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``"bf16=training.amp=true,model.attention_impl=sdpa"`` -> ("bf16", [overrides])."""
    name, sep, rest = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"variant {text!r} must look like name=section.key=value[,section.key=value...]")
    return name.strip(), [o.strip() for o in rest.split(",") if o.strip()]


def run_variant(name: str, overrides: list[str], tta: TimeToAccuracyConfig, repeat: int,
                log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train one variant until the targets (or the config's last epoch); returns its row."""
    cfg = load_config(tta.config, overrides + tta.overrides)
    run_dir = make_run_dir(tta.config, f"{name}_r{repeat}", tta.runs_dir)
    reached: dict[str, Any] = {}
    start = time.perf_counter()

    def stop_when(row: dict[str, Any]) -> bool:
        hit = row["token_accuracy"] >= tta.token_accuracy and row["sequence_accuracy"] >= tta.sequence_accuracy
        if hit and not reached:
            reached.update(row, wall_seconds=time.perf_counter() - start)
        return hit

    last = train(cfg, run_dir, console=False, make_plots=False, stop_when=stop_when)
    first_line = (Path(run_dir) / "train.log").read_text().splitlines()[0]
    amp = first_line.split(" amp=", 1)[1].split(") ", 1)[0] + ")" if " amp=" in first_line else "?"
    row = reached or last
    result = {"variant": name, "overrides": overrides, "repeat": repeat, "reached": bool(reached), "amp": amp,
              "wall_seconds": reached.get("wall_seconds", time.perf_counter() - start),
              "train_seconds": row.get("train_seconds"), "epoch": row.get("epoch"), "step": row.get("step"),
              "token_accuracy": row.get("token_accuracy"), "sequence_accuracy": row.get("sequence_accuracy"),
              "cer": row.get("cer"), "run_dir": str(run_dir)}
    log(f"{name} (repeat {repeat}): {'reached' if reached else 'did NOT reach'} {tta.token_accuracy}/"
        f"{tta.sequence_accuracy} at epoch {result['epoch']} step {result['step']} in {result['wall_seconds']:.0f} s "
        f"wall ({result['train_seconds']:.0f} s training), token acc {result['token_accuracy']:.4f}, "
        f"seq acc {result['sequence_accuracy']:.3f}; amp={amp}")
    return result


def run_time_to_accuracy(tta: TimeToAccuracyConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every variant, ``repeats`` times, alternating; medians per variant and the speed-up over the first."""
    variants = [parse_variant(v) for v in tta.variants]
    rows = [run_variant(name, ovr, tta, r, log) for r in range(tta.repeats) for name, ovr in variants]
    summary = {}
    for name, _ in variants:
        mine = [r for r in rows if r["variant"] == name]
        summary[name] = {"median_wall_seconds": statistics.median(r["wall_seconds"] for r in mine),
                         "all_reached": all(r["reached"] for r in mine)}
    base = variants[0][0]
    for name in summary:
        summary[name]["speedup_over_" + base] = summary[base]["median_wall_seconds"] / summary[name]["median_wall_seconds"]
    return {"settings": tta.__dict__, "rows": rows, "summary": summary}


def markdown_table(result: dict[str, Any]) -> str:
    s = result["settings"]
    base = next(iter(result["summary"]))
    lines = [f"Target: val token accuracy >= {s['token_accuracy']} and sequence accuracy >= {s['sequence_accuracy']} "
             f"(greedy), `{s['config']}`.\n",
             "| variant | repeat | amp | reached | epoch | step | wall s | training s | token acc | seq acc |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['variant']} | {r['repeat']} | {r['amp']} | {'yes' if r['reached'] else 'NO'} | {r['epoch']} "
                     f"| {r['step']} | {r['wall_seconds']:.0f} | {r['train_seconds']:.0f} | {r['token_accuracy']:.4f} "
                     f"| {r['sequence_accuracy']:.3f} |")
    lines.append("")
    for name, v in result["summary"].items():
        lines.append(f"- {name}: median {v['median_wall_seconds']:.0f} s to the target"
                     f"{'' if v['all_reached'] else ' (NOT reached in every repeat)'}; "
                     f"{v['speedup_over_' + base]:.2f}x vs {base}")
    return "\n".join(lines) + "\n"


__all__ = ["TimeToAccuracyConfig", "markdown_table", "parse_variant", "run_time_to_accuracy"]
