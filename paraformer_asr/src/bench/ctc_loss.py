"""CTC loss speed: our alpha recursion against the ``loss.ctc_impl: torch`` fast path.

One timed run is ``log_softmax -> ctc_loss (mean) -> backward`` on random logits of
shape (B, T, V) with random targets of L labels (lengths L/2..L, one utterance at L),
as the models call it; the two implementations alternate run by run
(:func:`time_interleaved`), so a change in machine load slows both alike.
"""

from __future__ import annotations

from typing import Any

import torch

from src.bench.bench_utils import summarize, time_interleaved
from src.losses.ctc import ctc_loss

# (B, T', L): the toy benchmark's batch, and robust-recipe batches of short to 10 s utterances at x4
DEFAULT_SHAPES = ((16, 75, 20), (32, 75, 20), (32, 150, 40), (32, 250, 60))


def ctc_case(batch: int, frames: int, labels: int, vocab: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Logits (B, T, V) and targets (B, L), input lengths (B,) = T, target lengths (B,) in [L/2, L]."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, frames, vocab, generator=g)
    targets = torch.randint(1, vocab, (batch, labels), generator=g)
    target_lens = torch.randint(labels // 2, labels + 1, (batch,), generator=g)
    target_lens[0] = labels
    return logits, targets, torch.full((batch,), frames), target_lens


def bench_ctc_loss(shapes: tuple[tuple[int, int, int], ...] = DEFAULT_SHAPES, *, vocab: int = 30,
                   impls: tuple[str, ...] = ("ours", "torch"), warmup: int = 2, repeats: int = 10) -> list[dict[str, Any]]:
    """One row per shape: median ms of forward + backward for each impl, and ours / torch."""
    rows = []
    device = torch.device("cpu")
    for batch, frames, labels in shapes:
        logits, targets, input_lens, target_lens = ctc_case(batch, frames, labels, vocab)

        def run(impl: str) -> None:
            x = logits.clone().requires_grad_(True)
            ctc_loss(torch.log_softmax(x, -1), targets, input_lens, target_lens, impl=impl).backward()

        seconds = time_interleaved({impl: (lambda impl=impl: run(impl)) for impl in impls},
                                   warmup=warmup, repeats=repeats, device=device)
        row: dict[str, Any] = {"batch": batch, "frames": frames, "labels": labels, "vocab": vocab}
        for impl in impls:
            row[f"{impl}_ms"] = summarize(seconds[impl])["median"] * 1000
        if "ours" in impls and "torch" in impls:
            row["ours_over_torch"] = row["ours_ms"] / row["torch_ms"]
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| B | T' | L | ours ms | torch ms | ours / torch |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['batch']} | {r['frames']} | {r['labels']} | {r.get('ours_ms', float('nan')):.1f} | "
                     f"{r.get('torch_ms', float('nan')):.1f} | {r.get('ours_over_torch', float('nan')):.2f}x |")
    return "\n".join(lines)
