"""Pre-LN transformer encoder: blocks of LN -> MHSA -> residual, LN -> MLP(GELU) -> residual.

Pre-LN (Xiong et al., 2020) normalises the input of each sub-layer and leaves
the residual stream untouched, so gradients reach the early layers without
passing through a LayerNorm; it trains without the warm-up tricks Post-LN needs.
Because the stream is never normalised inside the stack, a final LayerNorm
closes it (as in ViT and GPT-2).

The 2D positional encodings live in ``pos_encoding.py``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from src.models.attention import MultiHeadSelfAttention


class MLP(nn.Module):
    """Position-wise feed-forward: Linear(D -> hidden) -> GELU -> Dropout -> Linear(hidden -> D)."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D) -> (B, N, D)."""
        x = self.drop(self.act(self.fc1(x)))  # (B, N, hidden)
        return self.fc2(x)  # (B, N, D)


class TransformerBlock(nn.Module):
    """x + Drop(MHSA(LN(x))), then x + Drop(MLP(LN(x))); same math as nn.TransformerEncoderLayer(norm_first=True)."""

    def __init__(
        self,
        *,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 2.0,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        attention_impl: str = "math",
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(dim=dim, num_heads=num_heads, attn_dropout=attn_dropout, impl=attention_impl)
        self.drop1 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, int(dim * mlp_ratio), dropout)
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, D), optional key_pad_mask (B, N) bool True = padding -> (B, N, D)."""
        x = x + self.drop1(self.attn(self.norm1(x), key_pad_mask=key_pad_mask))  # (B, N, D)
        return x + self.drop2(self.mlp(self.norm2(x)))  # (B, N, D)


class TransformerEncoder(nn.Module):
    """A stack of pre-LN blocks and the closing LayerNorm; optional activation checkpointing per block."""

    def __init__(
        self,
        *,
        num_layers: int,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 2.0,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        attention_impl: str = "math",
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            TransformerBlock(
                dim=dim,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                dropout=dropout,
                attn_dropout=attn_dropout,
                attention_impl=attention_impl,
            )
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(dim)
        # Trade compute for memory: keep only each block's input and recompute its
        # activations (the (B, h, N, N) attention maps above all) during backward.
        self.grad_checkpointing = False

    def forward(self, x: torch.Tensor, key_pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, D), optional key_pad_mask (B, N) bool True = padding -> (B, N, D) layer-normalised."""
        for block in self.blocks:
            if self.grad_checkpointing and torch.is_grad_enabled():
                # use_reentrant=False is the recommended mode: it supports inputs that do
                # not require grad and keyword arguments; the RNG state is saved, so
                # dropout draws the same masks when the block is recomputed.
                x = checkpoint(block, x, key_pad_mask, use_reentrant=False)  # (B, N, D)
            else:
                x = block(x, key_pad_mask)  # (B, N, D)
        return self.norm(x)  # (B, N, D)
