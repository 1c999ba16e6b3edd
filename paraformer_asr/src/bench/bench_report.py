"""The benchmark result (``run_benchmark``) as markdown tables, and the issue's targets checked on it."""

from __future__ import annotations

from typing import Any

from src.bench.bench_utils import machine_line

SPEEDUP_TARGET = 5.0  # Paraformer greedy vs transformer_ar greedy at batch 1, on the CPU
# "At a similar CER": a speed-up only counts when both models are trained and their CERs on the
# timed utterances are this close (absolute). A fast model that transcribes badly proves nothing.
SIMILAR_CER = 0.03
BF16_TRAIN_TARGET = 1.5  # issue 17: bf16 training throughput >= 1.5x fp32's on a CPU with native bf16


def _span(stats: dict[str, float], fmt: str) -> str:
    return f"{stats['median']:{fmt}} ({stats['min']:{fmt}}-{stats['max']:{fmt}})"


def markdown_report(result: dict[str, Any]) -> str:
    """Command, machine, then the training, decoding and encoder-attention tables."""
    s = result["settings"]
    lines = []
    if result.get("command"):
        lines.append(f"Command: `{result['command']}`\n")
    lines += [f"Machine: {machine_line(result['machine'])}\n",
              f"{s['warmup']} warm-up runs, {s['repeats']} timed runs per cell; values are median (min-max).\n",
              f"bf16: {result['machine'].get('bf16', 'unknown')}; a GPU column exists only where a GPU run was made.\n",
              "### Training (toy batches)\n",
              "| model | attention | precision | batch | utterances/s | mean utterance (s) | peak mem (MB) | params (M) |",
              "|---|---|---|---|---|---|---|---|"]
    for r in result["train"]:
        lines.append(f"| {r['model']} | {r['attention']} | {r.get('precision', 'fp32')} | {r['batch_size']} "
                     f"| {_span(r['utterances_per_s'], '.1f')} "
                     f"| {r['mean_utterance_s']:.2f} | {r['peak_mem_mb']:.0f} | {r['num_params'] / 1e6:.2f} |")
    lines += ["", "### Training, fp32 and bf16 side by side (utterances/s, medians)\n",
              "| model | attention | fp32 | bf16 | bf16 / fp32 |", "|---|---|---|---|---|"]
    for (model, attention), rates in _by_precision(result["train"], ("model", "attention"), "utterances_per_s").items():
        if {"fp32", "bf16"} <= set(rates):
            lines.append(f"| {model} | {attention} | {rates['fp32']:.1f} | {rates['bf16']:.1f} "
                         f"| {rates['bf16'] / rates['fp32']:.2f}x |")
    lines += ["", f"### Greedy decoding, {s['utterances']} utterances of {s['min_frames'] / 100:g}-"
                  f"{s['max_frames'] / 100:g} s\n",
              "| model | precision | batch | RTF | x real time | CER | output tokens/utt | reference tokens/utt | weights |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in result["decode"]:
        mode = f", AR length: {r['ar_length']}" if r["ar_length"] else ""
        lines.append(f"| {r['model']} | {r.get('precision', 'fp32')} | {r['batch_size']} | {_span(r['rtf'], '.4f')} "
                     f"| {1 / r['rtf']['median']:.0f} "
                     f"| {r['cer']:.3f} | {r['mean_output_tokens']:.1f} | {r['mean_reference_tokens']:.1f} | {r['weights']}{mode} |")
    lines += ["", "### Greedy decoding, fp32 and bf16 side by side (RTF medians; speed-up = RTF fp32 / RTF bf16)\n",
              "| model | batch | fp32 RTF | bf16 RTF | bf16 speed-up | CER fp32 | CER bf16 |", "|---|---|---|---|---|---|---|"]
    rtf = _by_precision(result["decode"], ("model", "batch_size"), "rtf")
    cer = _by_precision(result["decode"], ("model", "batch_size"), "cer")
    for (model, b), r in rtf.items():
        if {"fp32", "bf16"} <= set(r):
            lines.append(f"| {model} | {b} | {r['fp32']:.4f} | {r['bf16']:.4f} | {r['fp32'] / r['bf16']:.2f}x "
                         f"| {cer[(model, b)]['fp32']:.3f} | {cer[(model, b)]['bf16']:.3f} |")
    lines.append("")
    for b, x in result["paraformer_speedup_over_ar"].items():
        lines.append(f"Paraformer speed-up over transformer_ar at batch {b}: **{x:.1f}x** "
                     f"(RTF(transformer_ar) / RTF(paraformer), medians)")
    lines += ["", "### Encoder attention: math vs sdpa (forward ms per batch)\n",
              "| frames T | T' | batch | math ms | sdpa ms | sdpa speed-up |", "|---|---|---|---|---|---|"]
    for r in result["encoder_attention"]:
        lines.append(f"| {r['frames']} | {r['subsampled_frames']} | {r['batch_size']} | {_span(r['math_ms'], '.1f')} "
                     f"| {_span(r['sdpa_ms'], '.1f')} | {r['sdpa_speedup']:.2f}x |")
    n = result["notes"]
    lines += ["", f"RTF: {n['rtf']}. AR length: {n['ar_length']}. Memory: {n['memory']}. "
                  f"Encoder: {n['encoder_attention']}."]
    return "\n".join(lines) + "\n"


def _by_precision(rows: list[dict[str, Any]], keys: tuple[str, ...], field: str) -> dict[tuple, dict[str, float]]:
    """{(key values): {precision: median of field (or the value itself)}}, in row order."""
    out: dict[tuple, dict[str, float]] = {}
    for r in rows:
        v = r[field]
        out.setdefault(tuple(r[k] for k in keys), {})[r.get("precision", "fp32")] = v["median"] if isinstance(v, dict) else v
    return out


def target_verdicts(result: dict[str, Any]) -> str:
    """Paraformer >= 5x over AR at batch 1 at a similar CER; sdpa never slower than math (encoder and training)."""
    lines = []
    x = result["paraformer_speedup_over_ar"].get("1")
    if x is not None:
        rows = {r["model"]: r for r in result["decode"] if r["batch_size"] == 1 and r.get("precision", "fp32") == "fp32"}
        pf, ar = rows["paraformer"], rows["transformer_ar"]
        cers = f"CER {pf['cer']:.3f} vs {ar['cer']:.3f}"
        trained = "random" not in (pf["weights"], ar["weights"])
        similar = trained and abs(pf["cer"] - ar["cer"]) <= SIMILAR_CER
        if not trained:
            accuracy = "random weights: speed only, no CER comparison"
        elif similar:
            accuracy = f"at a similar CER: {cers}, within {SIMILAR_CER:g}"
        else:
            accuracy = f"NOT at a similar CER: {cers}, more than {SIMILAR_CER:g} apart"
        verdict = "meets" if x >= SPEEDUP_TARGET and similar else "MISSES"
        lines.append(f"- Paraformer vs transformer_ar greedy at batch 1: {x:.1f}x, {accuracy} "
                     f"({verdict} the >= {SPEEDUP_TARGET:g}x target at a similar CER)")
    for r in result["encoder_attention"]:
        lines.append(f"- encoder T={r['frames']}: sdpa / math speed = {r['sdpa_speedup']:.2f}x "
                     f"({'not slower' if r['sdpa_speedup'] >= 1.0 else 'SLOWER'})")
    by_model: dict[str, dict[str, float]] = {}
    for r in result["train"]:
        if r.get("precision", "fp32") == "fp32":
            by_model.setdefault(r["model"], {})[r["attention"]] = r["utterances_per_s"]["median"]
    for model, rates in by_model.items():
        if "math" in rates and "sdpa" in rates:
            ratio = rates["sdpa"] / rates["math"]
            lines.append(f"- training {model}: sdpa / math = {ratio:.2f}x ({'not slower' if ratio >= 1.0 else 'SLOWER'})")
    bf16 = result.get("machine", {}).get("bf16", "unknown")
    for (model, attention), rates in _by_precision(result["train"], ("model", "attention"), "utterances_per_s").items():
        if {"fp32", "bf16"} <= set(rates):
            x = rates["bf16"] / rates["fp32"]
            verdict = "meets" if x >= BF16_TRAIN_TARGET else "MISSES"
            lines.append(f"- training {model} {attention}: bf16 / fp32 = {x:.2f}x ({verdict} the >= "
                         f"{BF16_TRAIN_TARGET:g}x target; bf16 {bf16.split(' ')[0]})")
    return "\n".join(lines)


__all__ = ["markdown_report", "target_verdicts"]
