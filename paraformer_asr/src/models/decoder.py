"""Paraformer's non-autoregressive decoder and the shared pre-LN decoder block.

Input: one acoustic embedding per token from the CIF predictor (or, for GLM
positions, the target token's embedding from ``embed``). All L positions are
decoded in one pass: self-attention is non-causal (masked only by the token
padding), cross-attention reads the encoder frames (masked by frame padding).
Sinusoidal positions are added (unscaled) so that self-attention can tell
token order even when two acoustic embeddings look alike.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from src.models.attention import MultiHeadAttention
from src.models.feed_forward import FeedForward
from src.models.positional_encoding import PositionalEncoding
from src.utils.masks import make_pad_mask


class DecoderLayer(nn.Module):
    """Pre-LN block: x + SelfAttn(LN x), x + CrossAttn(LN x, enc), x + FFN(LN x)."""

    def __init__(self, *, dim: int, num_heads: int, ffn_dim: int, dropout: float, attention_impl: str) -> None:
        super().__init__()
        self.norm_self = nn.LayerNorm(dim)
        self.self_attn = MultiHeadAttention(dim=dim, num_heads=num_heads, impl=attention_impl)
        self.norm_src = nn.LayerNorm(dim)
        self.src_attn = MultiHeadAttention(dim=dim, num_heads=num_heads, impl=attention_impl)
        self.norm_ff = nn.LayerNorm(dim)
        self.feed_forward = FeedForward(dim=dim, ffn_dim=ffn_dim, dropout=dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        token_pad_mask: torch.Tensor | None,
        memory: torch.Tensor,
        memory_pad_mask: torch.Tensor,
        *,
        causal: bool = False,
    ) -> torch.Tensor:
        """x (B, L, D), token_pad_mask (B, L), memory (B, T', D), memory_pad_mask (B, T') -> (B, L, D)."""
        y = self.norm_self(x)
        x = x + self.dropout(self.self_attn(y, y, y, key_pad_mask=token_pad_mask, causal=causal))  # (B, L, D)
        y = self.norm_src(x)
        x = x + self.dropout(self.src_attn(y, memory, memory, key_pad_mask=memory_pad_mask))  # (B, L, D)
        return x + self.dropout(self.feed_forward(self.norm_ff(x)))  # (B, L, D)


class NARDecoder(nn.Module):
    """Acoustic embeddings (B, L, D) + encoder (B, T', D) -> logits (B, L, V) in one pass."""

    def __init__(
        self,
        *,
        vocab_size: int,
        d_model: int,
        num_layers: int,
        num_heads: int,
        ffn_dim: int,
        dropout: float = 0.1,
        attention_impl: str = "math",
        with_embed: bool = True,
    ) -> None:
        super().__init__()
        # Target-token embeddings for the glancing sampler (Paraformer section 2.3). Built
        # only when GLM is on, so that every parameter gets a gradient every step (DDP
        # without find_unused_parameters requires it).
        self.embed = nn.Embedding(vocab_size, d_model) if with_embed else None
        self.pos_enc = PositionalEncoding(dim=d_model, dropout=dropout, xscale=1.0)
        self.layers = nn.ModuleList(
            DecoderLayer(dim=d_model, num_heads=num_heads, ffn_dim=ffn_dim, dropout=dropout, attention_impl=attention_impl)
            for _ in range(num_layers)
        )
        self.norm_out = nn.LayerNorm(d_model)
        self.output = nn.Linear(d_model, vocab_size)
        self.grad_checkpointing = False

    def forward(
        self,
        x: torch.Tensor,
        x_lens: torch.Tensor,
        memory: torch.Tensor,
        memory_lens: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, L, D) acoustic embeddings, x_lens (B,), memory (B, T', D), memory_lens (B,) -> (logits (B, L, V), x_lens)."""
        token_pad_mask = make_pad_mask(x_lens, x.size(1))  # (B, L)
        memory_pad_mask = make_pad_mask(memory_lens, memory.size(1))  # (B, T')
        x = self.pos_enc(x)  # (B, L, D)
        for layer in self.layers:
            if self.grad_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(layer, x, token_pad_mask, memory, memory_pad_mask, use_reentrant=False)
            else:
                x = layer(x, token_pad_mask, memory, memory_pad_mask)  # (B, L, D)
        return self.output(self.norm_out(x)), x_lens  # (B, L, V)
