"""The benchmark result (``run_benchmark``) as markdown, and the issue's targets checked on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _rate(stats: dict[str, float]) -> str:
    return f"{stats['median']:.1f} ({stats['min']:.1f}-{stats['max']:.1f})"


def markdown_report(result: dict[str, Any], command: str = "") -> str:
    """The results as markdown: command, machine, peak line and one table row per case."""
    m = result["machine"]
    peak = result["matmul_peak_gflops"]
    s = result["settings"]
    lines = []
    if command:
        lines.append(f"Command: `{command}`\n")
    lines += [f"Machine: {m['cpu']}; {m['logical_cores']} logical cores; torch {m['torch']} with {m['threads']} "
              f"threads; device {m['device']}{' (' + m['gpu'] + ')' if m['gpu'] else ''}; "
              f"load average {m['load_average_1min']}; {m['date_utc']} UTC\n",
              f"Measured fp32 matmul peak ({peak['n']}x{peak['n']}): **{peak['median']:.1f} GFLOP/s** "
              f"(min {peak['min']:.1f}, max {peak['max']:.1f}; the better of the probes before and after the cases, "
              f"medians {' and '.join(f'{x:.1f}' for x in result['matmul_peak_probes_median_gflops'])}). Batch {s['batch_size']}, {s['warmup']} warm-up steps, "
              f"{s['repeats']} timed blocks of {s['steps_per_repeat']} steps; rates are median (min-max).\n",
              "| model | size | attention | layout | train img/s | infer img/s | fwd GFLOP/img | train GFLOP/img "
              "| train GFLOP/s | train % of peak | infer GFLOP/s | infer % of peak | peak mem train / infer (MB) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(
            f"| {r['model']} | {r['size']} | {r['attention']} | {r['layout']} | {_rate(r['train_images_per_s'])} "
            f"| {_rate(r['infer_images_per_s'])} | {r['forward_flops_per_image'] / 1e9:.3f} "
            f"| {r['train_flops_per_image'] / 1e9:.3f} | {r['train_gflops_per_s']:.1f} "
            f"| {100 * r['train_fraction_of_peak']:.1f} | {r['infer_gflops_per_s']:.1f} "
            f"| {100 * r['infer_fraction_of_peak']:.1f} | {r['train_peak_mem_mb']:.0f} / {r['infer_peak_mem_mb']:.0f} |")
    lines.append(f"\nMemory: {result['memory_note']}. FLOPs: {result['flops_note']}.")
    return "\n".join(lines) + "\n"


def target_verdicts(result: dict[str, Any]) -> str:
    """The issue's targets, checked on these numbers: sdpa vs math, U-Net at 128 vs 30% of peak."""
    rows = result["rows"]
    lines = []
    for r in rows:
        if r["attention"] != "sdpa":
            continue
        twin = next((m for m in rows if m["attention"] == "math" and m["config"] == r["config"]
                     and m["size"] == r["size"] and m["layout"] == r["layout"]), None)
        if twin is None:
            continue
        for kind in ("train", "infer"):
            ratio = r[f"{kind}_images_per_s"]["median"] / twin[f"{kind}_images_per_s"]["median"]
            lines.append(f"- {r['model']} {r['size']}x{r['size']} {r['layout']} {kind}: sdpa / math = {ratio:.2f}x "
                         f"({'not slower' if ratio >= 1.0 else 'SLOWER'})")
    for r in rows:
        if r["model"] == "unet" and r["size"] == 128:
            frac = r["train_fraction_of_peak"]
            lines.append(f"- unet 128x128 {r['layout']} training: {100 * frac:.1f}% of the fp32 matmul peak "
                         f"({'meets' if frac >= 0.30 else 'MISSES'} the 30% target)")
    return "\n".join(lines)


def write_profiles(profiles: dict[str, str], path: str | Path) -> None:
    text = "\n\n".join(f"== {name}: top ops by self CPU time ==\n{table}" for name, table in profiles.items())
    Path(path).write_text(text + "\n")


__all__ = ["markdown_report", "target_verdicts", "write_profiles"]
