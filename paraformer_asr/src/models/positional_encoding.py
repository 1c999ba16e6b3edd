"""Sinusoidal positional encoding (Vaswani et al. 2017, section 3.5).

PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos(p / 10000^(2i/D)).
For any fixed offset k, PE[p + k] is a rotation of PE[p], so attention can
read relative positions from dot products. The table is extended on demand.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoid_table(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """(length, dim) table; dim must be even."""
    assert dim % 2 == 0, f"d_model={dim} must be even for sinusoidal positions"
    pos = torch.arange(length, dtype=torch.float32, device=device).unsqueeze(1)  # (N, 1)
    inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim))  # (D/2,)
    table = torch.zeros(length, dim, device=device)  # (N, D)
    table[:, 0::2] = torch.sin(pos * inv_freq)
    table[:, 1::2] = torch.cos(pos * inv_freq)
    return table


class PositionalEncoding(nn.Module):
    """x * xscale + PE[offset : offset + N], then dropout.

    ``xscale = sqrt(D)`` for embeddings/front-end outputs (keeps the content
    term larger than the unit-range PE, as in WeNet); 1.0 to add PE unscaled.
    """

    def __init__(self, *, dim: int, dropout: float = 0.0, xscale: float | None = None, max_len: int = 2048) -> None:
        super().__init__()
        self.dim = dim
        self.xscale = math.sqrt(dim) if xscale is None else xscale
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoid_table(max_len, dim), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """x (B, N, D) -> (B, N, D); ``offset`` is the position of x[:, 0] (incremental decoding)."""
        end = offset + x.size(1)
        if end > self.pe.size(0):
            self.pe = sinusoid_table(2 * end, self.dim, device=x.device)
        return self.dropout(x * self.xscale + self.pe[offset:end].to(x.dtype))  # (B, N, D)
