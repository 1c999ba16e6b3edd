"""Autoregressive transformer decoder (the ``transformer_ar`` baseline).

Training: teacher forcing over ``<sos> y_1 .. y_L`` with causal self-attention.
Decoding: ``init_state`` projects the encoder memory into each layer's
cross-attention keys/values once; ``step`` feeds one token per utterance and
appends that token's self-attention keys/values to a per-layer cache. A step
therefore costs O(prefix) attention instead of re-running the whole prefix,
and its logits equal the full forward's last position (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from src.models.decoder import DecoderLayer
from src.models.positional_encoding import PositionalEncoding
from src.utils.masks import make_pad_mask


@dataclass
class ARDecoderState:
    """Incremental decoding state for N rows (utterances or beams)."""

    self_k: list[torch.Tensor]  # per layer (N, h, t, d): keys of the tokens fed so far
    self_v: list[torch.Tensor]  # per layer (N, h, t, d)
    src_k: list[torch.Tensor]  # per layer (N, h, T', d): projected encoder memory
    src_v: list[torch.Tensor]  # per layer (N, h, T', d)
    memory_pad_mask: torch.Tensor  # (N, T')
    offset: int  # number of tokens fed so far (position of the next one)

    def select(self, rows: torch.Tensor) -> "ARDecoderState":
        """Keep/reorder rows, e.g. the surviving beams' parents: rows (N',) -> state of N' rows."""
        pick = lambda xs: [x.index_select(0, rows) for x in xs]  # noqa: E731
        return ARDecoderState(
            pick(self.self_k), pick(self.self_v), pick(self.src_k), pick(self.src_v),
            self.memory_pad_mask.index_select(0, rows), self.offset,
        )


class ARDecoder(nn.Module):
    """Tokens (B, L) + encoder (B, T', D) -> logits (B, L, V), causal."""

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
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos_enc = PositionalEncoding(dim=d_model, dropout=dropout)
        self.layers = nn.ModuleList(
            DecoderLayer(dim=d_model, num_heads=num_heads, ffn_dim=ffn_dim, dropout=dropout, attention_impl=attention_impl)
            for _ in range(num_layers)
        )
        self.norm_out = nn.LayerNorm(d_model)
        self.output = nn.Linear(d_model, vocab_size)
        self.grad_checkpointing = False

    def forward(
        self,
        tokens: torch.Tensor,
        token_lens: torch.Tensor,
        memory: torch.Tensor,
        memory_lens: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, L) starting with <sos>, token_lens (B,), memory (B, T', D) -> (logits (B, L, V), token_lens)."""
        token_pad_mask = make_pad_mask(token_lens, tokens.size(1))  # (B, L)
        memory_pad_mask = make_pad_mask(memory_lens, memory.size(1))  # (B, T')
        x = self.pos_enc(self.embed(tokens))  # (B, L, D)
        for layer in self.layers:
            if self.grad_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(
                    layer, x, token_pad_mask, memory, memory_pad_mask, causal=True, use_reentrant=False
                )
            else:
                x = layer(x, token_pad_mask, memory, memory_pad_mask, causal=True)  # (B, L, D)
        return self.output(self.norm_out(x)), token_lens  # (B, L, V)

    @torch.no_grad()
    def init_state(self, memory: torch.Tensor, memory_lens: torch.Tensor) -> ARDecoderState:
        """Project the memory (B, T', D) once per layer for cross-attention."""
        src = [layer.src_attn.project_kv(memory, memory) for layer in self.layers]  # (B, h, T', d) pairs
        empty = memory.new_zeros(memory.size(0), self.layers[0].self_attn.num_heads, 0, self.layers[0].self_attn.head_dim)
        return ARDecoderState(
            [empty] * len(self.layers), [empty] * len(self.layers),
            [k for k, _ in src], [v for _, v in src],
            make_pad_mask(memory_lens, memory.size(1)), 0,
        )

    @torch.no_grad()
    def step(self, tokens: torch.Tensor, state: ARDecoderState) -> tuple[torch.Tensor, ARDecoderState]:
        """Feed one token per row: tokens (N,) -> log-probs (N, V) of the next token and the new state."""
        x = self.pos_enc(self.embed(tokens).unsqueeze(1), offset=state.offset)  # (N, 1, D)
        new_k, new_v = [], []
        for i, layer in enumerate(self.layers):
            y = layer.norm_self(x)
            k, v = layer.self_attn.project_kv(y, y)  # (N, h, 1, d)
            k = torch.cat([state.self_k[i], k], dim=2)  # (N, h, t+1, d)
            v = torch.cat([state.self_v[i], v], dim=2)  # (N, h, t+1, d)
            new_k.append(k)
            new_v.append(v)
            # The newest token may see every cached one: no mask needed.
            x = x + layer.self_attn.attend(layer.self_attn.project_q(y), k, v)  # (N, 1, D)
            y = layer.norm_src(x)
            x = x + layer.src_attn.attend(
                layer.src_attn.project_q(y), state.src_k[i], state.src_v[i], key_pad_mask=state.memory_pad_mask
            )  # (N, 1, D)
            x = x + layer.feed_forward(layer.norm_ff(x))  # (N, 1, D)
        logits = self.output(self.norm_out(x)).squeeze(1)  # (N, V)
        state = ARDecoderState(new_k, new_v, state.src_k, state.src_v, state.memory_pad_mask, state.offset + 1)
        return torch.log_softmax(logits, dim=-1), state
