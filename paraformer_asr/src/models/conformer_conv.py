"""Conformer convolution module (Gulati et al. 2020, figure 2).

pointwise conv (D -> 2D) -> GLU -> depthwise conv (kernel k, 'same' padding)
-> norm -> swish -> pointwise conv (D -> D) -> dropout.

Padding frames must not leak into real frames through the depthwise conv's
receptive field, so they are zeroed right before it. With the zeros in place a
padded utterance sees exactly what the conv's own zero padding shows the
unpadded one. The conv itself writes non-zero values into the padding (its bias,
and the kernel reaching the last real frames), so the padding is zeroed again
after it: ``norm="batch_norm"`` (the paper's choice) then computes training
statistics over all frames with the padding exactly 0 (so they still depend on how
much padding the batch has, as in WeNet); in eval mode it uses running statistics
and is padding-invariant. The default ``layer_norm`` is padding-invariant in both modes.
"""

from __future__ import annotations

import torch
from torch import nn


class ConformerConvModule(nn.Module):
    """(B, T', D) with pad_mask (B, T') -> (B, T', D)."""

    def __init__(self, *, dim: int, kernel_size: int, dropout: float = 0.0, norm: str = "layer_norm") -> None:
        super().__init__()
        assert kernel_size % 2 == 1, f"encoder.conv_kernel={kernel_size} must be odd so 'same' padding is symmetric"
        assert norm in ("layer_norm", "batch_norm"), f"encoder.conv_norm={norm!r} must be 'layer_norm' or 'batch_norm'"
        self.pointwise_conv1 = nn.Conv1d(dim, 2 * dim, kernel_size=1)
        self.glu = nn.GLU(dim=1)
        self.depthwise_conv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm_type = norm
        self.norm = nn.LayerNorm(dim) if norm == "layer_norm" else nn.BatchNorm1d(dim)
        self.act = nn.SiLU()  # swish
        self.pointwise_conv2 = nn.Conv1d(dim, dim, kernel_size=1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        """x (B, T', D), pad_mask (B, T') True = padding -> (B, T', D)."""
        y = self.glu(self.pointwise_conv1(x.transpose(1, 2)))  # (B, D, T')
        y = y.masked_fill(pad_mask.unsqueeze(1), 0.0)  # zero padding before the kernel can reach it
        y = self.depthwise_conv(y)  # (B, D, T')
        y = y.masked_fill(pad_mask.unsqueeze(1), 0.0)  # the conv's bias and kernel filled the padding: zero it for the norm
        if self.norm_type == "layer_norm":
            y = self.norm(y.transpose(1, 2)).transpose(1, 2)  # (B, D, T')
        else:
            y = self.norm(y)  # (B, D, T')
        y = self.pointwise_conv2(self.act(y))  # (B, D, T')
        return self.dropout(y.transpose(1, 2))  # (B, T', D)
