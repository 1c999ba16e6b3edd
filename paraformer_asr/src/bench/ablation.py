"""The ablation table of docs/ABLATIONS.md: train each variant, then score and time it.

Rows: ctc, paraformer (with and without GLM, with and without the CTC head) and
transformer_ar. Columns: parameters, training time, token and sequence accuracy
(greedy), CER greedy and beam, and decode time per utterance at batch size 1.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from src.data.batching import build_dataloaders, feature_dim
from src.training.evaluate import decode_options, evaluate
from src.training.inference import load_for_inference
from src.training.trainer import train
from src.utils.config import load_config
from src.utils.logging import make_run_dir


@dataclass
class Variant:
    name: str
    config: str  # path relative to the project root
    overrides: list[str] = field(default_factory=list)


VARIANTS = [
    Variant("ctc", "configs/ctc_baseline.yaml"),
    Variant("paraformer", "configs/paraformer_base.yaml"),
    Variant("paraformer -GLM", "configs/paraformer_base.yaml", ["model.sampling_ratio=0.0"]),
    Variant("paraformer -CTC", "configs/paraformer_base.yaml", ["model.ctc_weight=0.0"]),
    Variant("transformer_ar", "configs/transformer_ar.yaml"),
]


@torch.no_grad()
def decode_seconds_per_utterance(model: torch.nn.Module, loader: torch.utils.data.DataLoader, num: int) -> float:
    """Median wall time of a greedy decode at batch size 1 over the first ``num`` utterances."""
    times = []
    for batch in loader:
        for b in range(batch["feats"].shape[0]):
            n = int(batch["feat_lens"][b])
            feats, lens = batch["feats"][b : b + 1, :n], batch["feat_lens"][b : b + 1]  # (1, T, F), (1,)
            start = time.perf_counter()
            model.decode(feats, lens, method="greedy")
            times.append(time.perf_counter() - start)
            if len(times) >= num:
                return sorted(times)[len(times) // 2]
    return sorted(times)[len(times) // 2] if times else float("nan")


def run_variant(
    variant: Variant, runs_dir: str | Path, *, extra_overrides: list[str], beam_size: int, timing_utterances: int
) -> dict[str, Any]:
    """Train one variant on the CPU, then evaluate its best checkpoint on the validation split."""
    cfg = load_config(variant.config, variant.overrides + ["training.device=cpu"] + extra_overrides)
    run_name = variant.name.replace(" ", "").replace("-", "_no_")
    run_dir = make_run_dir(variant.config, run_name, runs_dir)
    last = train(cfg, run_dir, make_plots=False)
    model, tokenizer, cfg = load_for_inference(run_dir / "checkpoints" / "best.pt", "cpu")
    loader = build_dataloaders(cfg, tokenizer, input_dim=feature_dim(cfg), splits=("val",))["val"]
    greedy = evaluate(model, loader, tokenizer, torch.device("cpu"), decode_opts=decode_options(cfg, "greedy", 1))
    beam = evaluate(model, loader, tokenizer, torch.device("cpu"), decode_opts=decode_options(cfg, "beam", beam_size))
    return {
        "variant": variant.name,
        "params": sum(p.numel() for p in model.parameters()),
        "train_seconds": last.get("train_seconds", float("nan")),
        "steps": last.get("step", 0),
        "token_accuracy": greedy["token_accuracy"],
        "sequence_accuracy": greedy["sequence_accuracy"],
        "cer_greedy": greedy["cer"],
        "cer_beam": beam["cer"],
        "decode_ms_per_utt": 1000 * decode_seconds_per_utterance(model, loader, timing_utterances),
        "run_dir": str(run_dir),
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    """The markdown table pasted into docs/ABLATIONS.md."""
    lines = [
        "| variant | params | train time | steps | token acc | seq acc | CER greedy | CER beam | decode ms/utt (b=1) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['params'] / 1e6:.2f}M | {r['train_seconds'] / 60:.1f} min | {r['steps']} "
            f"| {r['token_accuracy']:.4f} | {r['sequence_accuracy']:.4f} | {r['cer_greedy']:.4f} "
            f"| {r['cer_beam']:.4f} | {r['decode_ms_per_utt']:.1f} |"
        )
    return "\n".join(lines)
