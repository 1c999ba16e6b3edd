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
        return self.out(self._features(x)), subsampled_length(x_lens, self.ratio)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, F) -> (B, T', C * F'): the conv stages, flattened per frame as (channel, frequency).

        The same function as ``self.conv(x.unsqueeze(1))`` then flattening (C, F'), computed in
        the layout the CPU kernels like (docs/BENCHMARKS.md, "The conv front end"):
        - stage 1 has one input channel, a case oneDNN handles slowly; as a matrix product of
          the nine taps of each 3x3 window, (B, T', F', 9) @ (9, C), it is a few memory passes;
        - the activations stay channels-last, (B, T', F', C), the layout of that product and
          the one oneDNN's convolutions prefer, so no stage reorders a tensor;
        - the last stage's ReLU runs after the flatten, on a contiguous tensor (a ReLU commutes
          with a permutation); on the strided view its backward took as long as a convolution's.
        """
        convs = [m for m in self.conv if isinstance(m, nn.Conv2d)]
        h = _one_channel_conv3x3_stride2(x, convs[0])  # (B, T', F', C)
        for conv in convs[1:]:
            # permute: an (N, C, H, W) view of channels-last memory; oneDNN keeps that layout.
            h = conv(torch.relu(h).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        b, t, f, c = h.shape
        return torch.relu(h.transpose(2, 3).reshape(b, t, c * f))


def _one_channel_conv3x3_stride2(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv`` (1 -> C channels, 3x3, stride 2, no padding) on x (B, T, F), returned channels-last (B, T', F', C).

    out[b, t, f, c] = bias[c] + sum_{i,j} weight[c, 0, i, j] * x[b, 2t + i, 2f + j]: the nine
    strided slices x[:, i::2, j::2] are the taps, stacked last, and one product with the
    (9, C) weight per utterance sums them.

    The product is a ``bmm`` with the weight broadcast over the batch, not one ``F.linear``
    over all B T' F' cells: the same numbers, but the weight's gradient becomes B products
    with an inner dimension of T' F' (summed by the broadcast's backward) instead of one
    with an inner dimension of B T' F', which BLAS ran at ~2 GFLOP/s on a 2-core AMD EPYC
    (fp32: the front end's forward + backward 413 -> 271 ms for 32 utterances of 336
    frames; docs/BENCHMARKS.md, "The conv front end").
    """
    b = x.size(0)
    t_out, f_out = (x.size(1) - 3) // 2 + 1, (x.size(2) - 3) // 2 + 1
    taps = [x[:, i : i + 2 * t_out - 1 : 2, j : j + 2 * f_out - 1 : 2] for i in range(3) for j in range(3)]
    taps = torch.stack(taps, dim=-1).reshape(b, t_out * f_out, 9)
    weight = conv.weight.reshape(conv.out_channels, 9).t().expand(b, 9, conv.out_channels)
    return (torch.bmm(taps, weight) + conv.bias).reshape(b, t_out, f_out, conv.out_channels)
