"""Position-wise feed-forward network: Linear -> activation -> dropout -> Linear."""

from __future__ import annotations

import torch
from torch import nn


class FeedForward(nn.Module):
    """(..., D) -> (..., D) through a hidden width ``ffn_dim``; swish for conformer, ReLU otherwise."""

    def __init__(self, *, dim: int, ffn_dim: int, dropout: float = 0.0, activation: str = "relu") -> None:
        super().__init__()
        assert activation in ("relu", "swish"), f"activation {activation!r} must be 'relu' or 'swish'"
        self.w_1 = nn.Linear(dim, ffn_dim)
        self.act = nn.ReLU() if activation == "relu" else nn.SiLU()
        self.dropout = nn.Dropout(dropout)
        self.w_2 = nn.Linear(ffn_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_2(self.dropout(self.act(self.w_1(x))))  # (..., D)
