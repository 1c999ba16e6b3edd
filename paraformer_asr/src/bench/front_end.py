"""Conv front end speed: ``Conv2dSubsampling``'s channels-last path against the plain Conv2d stack.

One timed run is the front end's features (``_features``: the conv stages and ReLUs, not the
output Linear) on random (B, T, F) log-mels, then backward through them, as in training (the
features need no gradient; every weight does). Three ways of computing the same function,
alternated run by run (:func:`time_interleaved`) so a change in machine load slows all alike:

- ``ours``: src/models/subsampling.py as it is (stage 1 as a batched product of the nine taps);
- ``tap_linear``: stage 1 as one ``F.linear`` over all B T' F' cells, the code before
  2026-12-07 (the rest as ``ours``), kept here to measure that change;
- ``conv2d``: ``nn.Sequential(Conv2d, ReLU, ...)`` in PyTorch's default NCHW layout.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from src.bench.bench_utils import summarize, time_interleaved
from src.models.subsampling import Conv2dSubsampling

IMPLS = ("ours", "tap_linear", "conv2d")
# (B, T, F, C): the toy batch of paraformer_base.yaml, robust-recipe batches of ~3.4 s and 6 s
DEFAULT_SHAPES = ((32, 144, 80, 32), (32, 336, 80, 48), (32, 600, 80, 48))


def conv2d_features(sub: Conv2dSubsampling, x: torch.Tensor) -> torch.Tensor:
    """The reference: (B, T, F) -> (B, T', C * F') through ``sub.conv`` in NCHW."""
    y = sub.conv(x.unsqueeze(1))  # (B, C, T', F')
    b, c, t, f = y.shape
    return y.transpose(1, 2).reshape(b, t, c * f)


def tap_linear_features(sub: Conv2dSubsampling, x: torch.Tensor) -> torch.Tensor:
    """``ours`` with stage 1 as one F.linear of the (B, T', F', 9) taps (before 2026-12-07)."""
    convs = [m for m in sub.conv if isinstance(m, torch.nn.Conv2d)]
    t_out, f_out = (x.size(1) - 3) // 2 + 1, (x.size(2) - 3) // 2 + 1
    taps = [x[:, i : i + 2 * t_out - 1 : 2, j : j + 2 * f_out - 1 : 2] for i in range(3) for j in range(3)]
    h = F.linear(torch.stack(taps, dim=-1), convs[0].weight.reshape(convs[0].out_channels, 9), convs[0].bias)
    for conv in convs[1:]:
        h = conv(torch.relu(h).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    b, t, f, c = h.shape
    return torch.relu(h.transpose(2, 3).reshape(b, t, c * f))


def bench_front_end(shapes: tuple[tuple[int, int, int, int], ...] = DEFAULT_SHAPES, *, ratio: int = 4,
                    impls: tuple[str, ...] = IMPLS, warmup: int = 2, repeats: int = 10) -> list[dict[str, Any]]:
    """One row per (B, T, F, C): median ms of forward + backward for each impl, and each one over ``ours``."""
    features = {"ours": lambda sub, x: sub._features(x), "tap_linear": tap_linear_features, "conv2d": conv2d_features}
    rows = []
    for batch, frames, bins, channels in shapes:
        torch.manual_seed(0)
        sub = Conv2dSubsampling(input_dim=bins, d_model=channels, ratio=ratio, channels=channels)
        x = torch.randn(batch, frames, bins)

        def run(impl: str) -> None:
            features[impl](sub, x).sum().backward()

        seconds = time_interleaved({impl: (lambda impl=impl: run(impl)) for impl in impls},
                                   warmup=warmup, repeats=repeats, device=torch.device("cpu"))
        row: dict[str, Any] = {"batch": batch, "frames": frames, "bins": bins, "channels": channels, "ratio": ratio}
        for impl in impls:
            row[f"{impl}_ms"] = summarize(seconds[impl])["median"] * 1000
        if "ours" in impls:
            for impl in impls:
                row[f"{impl}_over_ours"] = row[f"{impl}_ms"] / row["ours_ms"]
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]], impls: tuple[str, ...] = IMPLS) -> str:
    others = [i for i in impls if i != "ours"] if "ours" in impls else []  # a ratio column each
    head = [f"{i} ms" for i in impls] + [f"{i} / ours" for i in others]
    lines = ["| B | T | F | C | " + " | ".join(head) + " |", "|" + "---|" * (4 + len(head))]
    for r in rows:
        cells = [f"{r[f'{i}_ms']:.1f}" for i in impls] + [f"{r[f'{i}_over_ours']:.2f}x" for i in others]
        lines.append(f"| {r['batch']} | {r['frames']} | {r['bins']} | {r['channels']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
