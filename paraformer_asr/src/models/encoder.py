"""Speech encoder: Conv2d subsampling -> positional encoding -> N blocks -> LayerNorm.

``model.encoder.type`` picks the block:
- ``transformer``: pre-LN, x + MHSA(LN(x)), then x + FFN(LN(x)).
- ``conformer`` (Gulati et al. 2020): macaron sandwich
  x + 1/2 FFN(LN x), x + MHSA(LN x), x + Conv(LN x), x + 1/2 FFN(LN x), LN.
  The two half-step FFNs follow the Macaron-Net reading of a transformer block
  as an ODE splitting step: each FFN is half of one "drift" update.

``grad_checkpointing`` (set from training.grad_checkpointing) recomputes each
block's activations in the backward pass instead of storing them: memory
per block drops to its input, at the cost of a second forward. Dropout masks
are replayed from the saved RNG state, so outputs and gradients are unchanged.

Intermediate CTC (``inter_ctc_layers``; Lee & Watanabe, "Intermediate loss regularization
for CTC-based speech recognition", ICASSP 2021). After each listed layer l the stream x_l is
read by the model's own CTC head through the final norm, P_l = softmax(head(LN(x_l))), and the
model adds a CTC loss on P_l. Lower layers are then pushed to hold the transcript too, which
regularises a deep encoder on little data; the head is shared so that every tap lives in the
same label space. Self-conditioning (``self_conditioning``; Nozaki & Komatsu, "Relaxing the
conditional independence assumption of CTC-based ASR by conditioning on intermediate
predictions", Interspeech 2021) also feeds that guess back into the stream,

    x_l <- x_l + W P_l,        W: (V -> D), learnt,

so the layers above see what the lower ones would transcribe, and can correct it with
context: a step away from CTC's frame-by-frame independence at the cost of two small
matmuls. The feedback is part of the function, so it runs at inference too; the head comes
in as ``forward(..., ctc_head=...)``, since it belongs to the model, not the encoder.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from src.models.attention import MultiHeadAttention
from src.models.conformer_conv import ConformerConvModule
from src.models.feed_forward import FeedForward
from src.models.positional_encoding import PositionalEncoding
from src.models.subsampling import Conv2dSubsampling
from src.utils.config import EncoderConfig
from src.utils.masks import make_pad_mask


class TransformerEncoderLayer(nn.Module):
    """Pre-LN transformer block: (B, T', D), pad_mask (B, T') -> (B, T', D)."""

    def __init__(self, *, dim: int, num_heads: int, ffn_dim: int, dropout: float, attn_dropout: float, attention_impl: str) -> None:
        super().__init__()
        self.norm_mha = nn.LayerNorm(dim)
        self.self_attn = MultiHeadAttention(dim=dim, num_heads=num_heads, dropout=attn_dropout, impl=attention_impl)
        self.norm_ff = nn.LayerNorm(dim)
        self.feed_forward = FeedForward(dim=dim, ffn_dim=ffn_dim, dropout=dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        y = self.norm_mha(x)
        x = x + self.dropout(self.self_attn(y, y, y, key_pad_mask=pad_mask))  # (B, T', D)
        return x + self.dropout(self.feed_forward(self.norm_ff(x)))  # (B, T', D)


class ConformerEncoderLayer(nn.Module):
    """Conformer block (macaron FFN, MHSA, conv module, FFN, LN): (B, T', D) -> (B, T', D)."""

    def __init__(
        self,
        *,
        dim: int,
        num_heads: int,
        ffn_dim: int,
        dropout: float,
        attn_dropout: float,
        attention_impl: str,
        conv_kernel: int,
        conv_norm: str,
    ) -> None:
        super().__init__()
        self.norm_ff_macaron = nn.LayerNorm(dim)
        self.feed_forward_macaron = FeedForward(dim=dim, ffn_dim=ffn_dim, dropout=dropout, activation="swish")
        self.norm_mha = nn.LayerNorm(dim)
        self.self_attn = MultiHeadAttention(dim=dim, num_heads=num_heads, dropout=attn_dropout, impl=attention_impl)
        self.norm_conv = nn.LayerNorm(dim)
        self.conv_module = ConformerConvModule(dim=dim, kernel_size=conv_kernel, dropout=dropout, norm=conv_norm)
        self.norm_ff = nn.LayerNorm(dim)
        self.feed_forward = FeedForward(dim=dim, ffn_dim=ffn_dim, dropout=dropout, activation="swish")
        self.norm_final = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        x = x + 0.5 * self.dropout(self.feed_forward_macaron(self.norm_ff_macaron(x)))  # (B, T', D)
        y = self.norm_mha(x)
        x = x + self.dropout(self.self_attn(y, y, y, key_pad_mask=pad_mask))  # (B, T', D)
        x = x + self.conv_module(self.norm_conv(x), pad_mask)  # (B, T', D)
        x = x + 0.5 * self.dropout(self.feed_forward(self.norm_ff(x)))  # (B, T', D)
        return self.norm_final(x)  # (B, T', D)


class Encoder(nn.Module):
    """(B, T, F) features and lengths -> (B, T', D) encoder states and T' lengths."""

    def __init__(
        self,
        *,
        input_dim: int,
        d_model: int,
        subsampling: int,
        subsampling_channels: int = 0,
        block: str,
        num_layers: int,
        num_heads: int,
        ffn_dim: int,
        dropout: float = 0.1,
        attn_dropout: float = 0.0,
        attention_impl: str = "math",
        conv_kernel: int = 15,
        conv_norm: str = "layer_norm",
        inter_ctc_layers: tuple[int, ...] | list[int] = (),
        self_conditioning: bool = False,
        vocab_size: int = 0,
    ) -> None:
        super().__init__()
        bad = [i for i in inter_ctc_layers if not 1 <= i < num_layers]
        assert not bad, (
            f"model.encoder.inter_ctc_layers={list(inter_ctc_layers)}: each must be a layer 1..{num_layers - 1} "
            f"of the {num_layers} (the last layer's output is scored by the final CTC)"
        )
        assert not (self_conditioning and not inter_ctc_layers), (
            "model.encoder.self_conditioning: true feeds back intermediate CTC posteriors; set model.encoder.inter_ctc_layers too"
        )
        assert block in ("transformer", "conformer"), f"model.encoder.type={block!r} must be 'transformer' or 'conformer'"
        self.subsampling = subsampling
        self.embed = Conv2dSubsampling(input_dim=input_dim, d_model=d_model, ratio=subsampling, channels=subsampling_channels)
        self.pos_enc = PositionalEncoding(dim=d_model, dropout=dropout)
        common = dict(dim=d_model, num_heads=num_heads, ffn_dim=ffn_dim, dropout=dropout, attn_dropout=attn_dropout, attention_impl=attention_impl)
        if block == "transformer":
            self.layers = nn.ModuleList(TransformerEncoderLayer(**common) for _ in range(num_layers))
        else:
            self.layers = nn.ModuleList(
                ConformerEncoderLayer(**common, conv_kernel=conv_kernel, conv_norm=conv_norm) for _ in range(num_layers)
            )
        self.norm_out = nn.LayerNorm(d_model)
        self.inter_ctc_layers = tuple(sorted(set(inter_ctc_layers)))
        assert not self_conditioning or vocab_size > 0, "self-conditioning projects V posteriors back to D: pass vocab_size"
        self.condition = nn.Linear(vocab_size, d_model) if self_conditioning else None  # W: (V -> D)
        self.grad_checkpointing = False

    @classmethod
    def from_config(
        cls, cfg: EncoderConfig, *, input_dim: int, d_model: int, subsampling: int, attention_impl: str, subsampling_channels: int = 0,
        vocab_size: int = 0,
    ) -> "Encoder":
        return cls(
            input_dim=input_dim,
            d_model=d_model,
            subsampling=subsampling,
            subsampling_channels=subsampling_channels,
            block=cfg.type,
            num_layers=cfg.num_layers,
            num_heads=cfg.num_heads,
            ffn_dim=cfg.ffn_dim,
            dropout=cfg.dropout,
            attn_dropout=cfg.attn_dropout,
            attention_impl=attention_impl,
            conv_kernel=cfg.conv_kernel,
            conv_norm=cfg.conv_norm,
            inter_ctc_layers=cfg.inter_ctc_layers,
            self_conditioning=cfg.self_conditioning,
            vocab_size=vocab_size,
        )

    def forward(
        self, x: torch.Tensor, x_lens: torch.Tensor, *, ctc_head: nn.Module | None = None, return_inter: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """x (B, T, F), x_lens (B,) -> y (B, T', D) with padding frames zeroed, y_lens (B,).

        ``ctc_head`` (D -> V) is needed with ``inter_ctc_layers``: self-conditioning uses it inside
        the stack. ``return_inter=True`` also returns the CTC log-probs (B, T', V) in fp32 after
        each of ``inter_ctc_layers`` (the training loss); otherwise taps without feedback are skipped.
        """
        x, y_lens = self.embed(x, x_lens)  # (B, T', D)
        x = self.pos_enc(x)  # (B, T', D)
        pad_mask = make_pad_mask(y_lens, x.size(1))  # (B, T')
        tap = self.inter_ctc_layers if return_inter or self.condition is not None else ()
        assert not tap or ctc_head is not None, "intermediate CTC reads the model's CTC head: pass ctc_head=model.ctc_head"
        inter_log_probs = []
        for index, layer in enumerate(self.layers, start=1):
            if self.grad_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(layer, x, pad_mask, use_reentrant=False)  # (B, T', D)
            else:
                x = layer(x, pad_mask)  # (B, T', D)
            if index in tap:
                log_probs = torch.log_softmax(ctc_head(self.norm_out(x)).float(), dim=-1)  # (B, T', V)
                inter_log_probs.append(log_probs)
                if self.condition is not None:
                    x = x + self.condition(log_probs.exp())  # (B, T', D): x_l + W P_l
        y = self.norm_out(x).masked_fill(pad_mask.unsqueeze(-1), 0.0)  # (B, T', D)
        return (y, y_lens, inter_log_probs) if return_inter else (y, y_lens)
