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
    bf16 = m.get("bf16_reason")
    lines += [f"Machine: {m['cpu']}; {m['logical_cores']} logical cores; torch {m['torch']} with {m['threads']} "
              f"threads; device {m['device']}{' (' + m['gpu'] + ')' if m['gpu'] else ''}; "
              f"load average {m['load_average_1min']}; {m['date_utc']} UTC\n",
              f"bf16: {'native' if m.get('bf16_native') else 'NOT native (bf16 rows are emulated)'} ({bf16})\n"
              if bf16 else "",
              f"Measured fp32 matmul peak ({peak['n']}x{peak['n']}): **{peak['median']:.1f} GFLOP/s** "
              f"(min {peak['min']:.1f}, max {peak['max']:.1f}; the better of the probes before and after the cases, "
              f"medians {' and '.join(f'{x:.1f}' for x in result['matmul_peak_probes_median_gflops'])}). Batch {s['batch_size']}, {s['warmup']} warm-up steps, "
              f"{s['repeats']} timed blocks of {s['steps_per_repeat']} steps; rates are median (min-max).\n",
              _bf16_peak_line(result),
              "| model | size | attention | layout | precision | train img/s | infer img/s | fwd GFLOP/img | train GFLOP/img "
              "| train GFLOP/s | train % of peak | infer GFLOP/s | infer % of peak | peak mem train / infer (MB) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(
            f"| {r['model']} | {r['size']} | {r['attention']} | {r['layout']} | {r.get('precision', 'fp32')} "
            f"| {_rate(r['train_images_per_s'])} "
            f"| {_rate(r['infer_images_per_s'])} | {r['forward_flops_per_image'] / 1e9:.3f} "
            f"| {r['train_flops_per_image'] / 1e9:.3f} | {r['train_gflops_per_s']:.1f} "
            f"| {100 * r['train_fraction_of_peak']:.1f} | {r['infer_gflops_per_s']:.1f} "
            f"| {100 * r['infer_fraction_of_peak']:.1f} | {r['train_peak_mem_mb']:.0f} / {r['infer_peak_mem_mb']:.0f} |")
    lines.append(f"\nMemory: {result['memory_note']}. FLOPs: {result['flops_note']}. % of peak: of the "
                 "matmul peak of the row's precision.")
    lines += ["", side_by_side(result)]
    return "\n".join(line for line in lines if line is not None) + "\n"


def _bf16_peak_line(result: dict[str, Any]) -> str:
    p = result.get("matmul_peak_bf16_gflops")
    if not p:
        return ""
    fp32 = result["matmul_peak_gflops"]["median"]
    return (f"Measured bf16 matmul peak ({p['n']}x{p['n']}): **{p['median']:.1f} GFLOP/s** "
            f"({p['median'] / fp32:.1f}x the fp32 peak; better of two probes).\n")


def _baseline(rows: list[dict[str, Any]], r: dict[str, Any]) -> dict[str, Any] | None:
    """The fp32 NCHW row of ``r``'s (config, size, attention): the fp32 path as it was before amp/layout auto."""
    return next((b for b in rows if b["config"] == r["config"] and b["size"] == r["size"]
                 and b["attention"] == r["attention"] and b["layout"] == "nchw"
                 and b.get("precision", "fp32") == "fp32"), None)


def side_by_side(result: dict[str, Any]) -> str:
    """fp32 and bf16 of each (model, size, attention, layout) in one row, with the speed-ups."""
    rows = result["rows"]
    lines = ["| model | size | attention | layout | fp32 train img/s | bf16 train img/s | bf16 / fp32 "
             "| fp32 infer img/s | bf16 infer img/s | bf16 / fp32 | train / fp32 NCHW | infer / fp32 NCHW |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("precision", "fp32") != "bf16":
            continue
        twin = next((f for f in rows if f.get("precision", "fp32") == "fp32" and f["config"] == r["config"]
                     and f["size"] == r["size"] and f["attention"] == r["attention"]
                     and f["layout"] == r["layout"]), None)
        base = _baseline(rows, r)
        if twin is None or base is None:
            continue
        t16, t32 = r["train_images_per_s"]["median"], twin["train_images_per_s"]["median"]
        i16, i32 = r["infer_images_per_s"]["median"], twin["infer_images_per_s"]["median"]
        lines.append(f"| {r['model']} | {r['size']} | {r['attention']} | {r['layout']} | {t32:.1f} | {t16:.1f} "
                     f"| {t16 / t32:.2f}x | {i32:.1f} | {i16:.1f} | {i16 / i32:.2f}x "
                     f"| {t16 / base['train_images_per_s']['median']:.2f}x "
                     f"| {i16 / base['infer_images_per_s']['median']:.2f}x |")
    if len(lines) == 2:
        return ""
    return "fp32 and bf16 side by side (medians; the last two columns: bf16 in this layout against fp32 NCHW):\n\n" \
        + "\n".join(lines) + "\n"


def target_verdicts(result: dict[str, Any]) -> str:
    """The issue's targets, checked on these numbers: sdpa vs math, U-Net at 128 vs 30% of peak."""
    rows = result["rows"]
    lines = []
    for r in rows:
        if r["attention"] != "sdpa":
            continue
        twin = next((m for m in rows if m["attention"] == "math" and m["config"] == r["config"]
                     and m["size"] == r["size"] and m["layout"] == r["layout"]
                     and m.get("precision") == r.get("precision")), None)
        if twin is None:
            continue
        for kind in ("train", "infer"):
            ratio = r[f"{kind}_images_per_s"]["median"] / twin[f"{kind}_images_per_s"]["median"]
            lines.append(f"- {r['model']} {r['size']}x{r['size']} {r['layout']} {r.get('precision', 'fp32')} {kind}: "
                         f"sdpa / math = {ratio:.2f}x "
                         f"({'not slower' if ratio >= 1.0 else 'SLOWER'})")
    for r in rows:
        if r["model"] == "unet" and r["size"] == 128 and r.get("precision", "fp32") == "fp32":
            frac = r["train_fraction_of_peak"]
            lines.append(f"- unet 128x128 {r['layout']} training: {100 * frac:.1f}% of the fp32 matmul peak "
                         f"({'meets' if frac >= 0.30 else 'MISSES'} the 30% target)")
    # Issue 17: the fastest variant's training throughput >= 1.5x the fp32 NCHW path's.
    for base in rows:
        if base["layout"] != "nchw" or base.get("precision", "fp32") != "fp32":
            continue
        group = [r for r in rows if _baseline(rows, r) is base]
        best = max(group, key=lambda r: r["train_images_per_s"]["median"])
        ratio = best["train_images_per_s"]["median"] / base["train_images_per_s"]["median"]
        lines.append(f"- {base['model']} {base['size']}x{base['size']} attention={base['attention']}: fastest training "
                     f"({best.get('precision', 'fp32')} {best['layout']}) = {ratio:.2f}x fp32 NCHW "
                     f"({'meets' if ratio >= 1.5 else 'MISSES'} the 1.5x target)")
    return "\n".join(lines)


def write_profiles(profiles: dict[str, str], path: str | Path) -> None:
    text = "\n\n".join(f"== {name}: top ops by self CPU time ==\n{table}" for name, table in profiles.items())
    Path(path).write_text(text + "\n")


__all__ = ["markdown_report", "side_by_side", "target_verdicts", "write_profiles"]
