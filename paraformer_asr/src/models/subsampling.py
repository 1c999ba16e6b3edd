"""Conv2d front end: subsample the frame rate by 2, 4 or 8 (WeNet's Conv2dSubsampling).

Each stage is a 3x3 convolution with stride 2 and no padding, followed by ReLU,
over the (time, frequency) plane. Without padding, an output frame t' reads
input frames 2t' .. 2t'+2 only, so for a valid output frame every input it
reads is valid: batch padding can never change the real frames. The length
of one stage is floor((T - 3) / 2) + 1 = floor((T - 1) / 2) for T >= 3, and 0 below.

Short utterances. Fewer than ``min_input_frames(ratio)`` input frames (7 at x4) give no
encoder frame at all; ``forward`` refuses a batch holding one (naming the utterance and
its length), since a zero-length encoder output has nothing to attend to or to align.
"""

from __future__ import annotations

import torch
from torch import nn


def subsampled_length(lengths: torch.Tensor | int, ratio: int) -> torch.Tensor | int:
    """T' for T input frames: apply floor((T - 1) / 2) once per stride-2 stage, never below 0."""
    for _ in range(_num_stages(ratio)):
        lengths = (lengths - 1) // 2
        lengths = lengths.clamp(min=0) if isinstance(lengths, torch.Tensor) else max(lengths, 0)
    return lengths


def receptive_field(frame: int, ratio: int) -> tuple[int, int]:
    """Input frames [first, last] that encoder frame ``frame`` reads: ratio * frame .. ratio * frame + 2 (ratio - 1).

    Each 3x3 stride-2 stage maps output t to inputs 2t .. 2t + 2; composing the stages gives a
    window of 2 * ratio - 1 frames starting at ratio * frame, centred on ratio * frame + ratio - 1.
    """
    _num_stages(ratio)
    return ratio * frame, ratio * frame + 2 * (ratio - 1)


def _num_stages(ratio: int) -> int:
    stages = {2: 1, 4: 2, 8: 3}
    assert ratio in stages, f"model.subsampling={ratio} is not supported; use 2, 4 or 8"
    return stages[ratio]


def min_input_frames(ratio: int) -> int:
    """Fewest input frames giving one output frame (7 for x4)."""
    t = 1
    for _ in range(_num_stages(ratio)):
        t = 2 * t + 1  # invert T' = floor((T - 1) / 2) at T' = t
    return t


class Conv2dSubsampling(nn.Module):
    """(B, T, F) features -> (B, T', D) with T' = subsampled_length(T, ratio)."""

    def __init__(self, *, input_dim: int, d_model: int, ratio: int = 4, channels: int = 0) -> None:
        super().__init__()
        self.ratio = ratio
        # The second 3x3 conv costs ~9 C^2 per output cell and dominates a small encoder's
        # FLOPs at C = D (WeNet's choice); a narrower C makes the front end much cheaper.
        channels = channels or d_model
        layers: list[nn.Module] = []
        freq = input_dim
        for i in range(_num_stages(ratio)):
            layers += [nn.Conv2d(1 if i == 0 else channels, channels, kernel_size=3, stride=2), nn.ReLU()]
            freq = (freq - 1) // 2
        assert freq >= 1, f"input_dim={input_dim} is too small for subsampling x{ratio}; need >= {min_input_frames(ratio)}"
        self.conv = nn.Sequential(*layers)
        self.out = nn.Linear(channels * freq, d_model)

    def forward(self, x: torch.Tensor, x_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, F), x_lens (B,) -> y (B, T', D), y_lens (B,)."""
        need = min_input_frames(self.ratio)
        short = (x_lens < need).nonzero().flatten().tolist()
        if x.size(1) < need or short:
            i = short[0] if short else 0
            n = int(x_lens[i]) if short else x.size(1)
            raise ValueError(
                f"utterance {i} of the batch has {n} frames, too few for subsampling x{self.ratio}: it needs at least "
                f"{need} frames (about {need - 1} frame shifts + one window of audio) to give one encoder frame; "
                "drop or pad utterances that short before the model sees them"
            )
        y = self.conv(x.unsqueeze(1))  # (B, C, T', F')
        b, c, t, f = y.shape
        y = self.out(y.transpose(1, 2).reshape(b, t, c * f))  # (B, T', C*F') -> (B, T', D)
        return y, subsampled_length(x_lens, self.ratio)
