"""Multi-head attention written out (Vaswani et al. 2017, section 3.2).

One module serves encoder self-attention, the non-autoregressive decoder's
self-attention, the autoregressive decoder's causal self-attention and every
cross-attention. ``impl="math"`` spells the computation out; ``impl="sdpa"``
hands the same projected tensors to ``F.scaled_dot_product_attention``
(a fast path proven equal in tests/models/test_attention.py).

Masks follow the project convention: ``key_pad_mask`` is True at padding.
Masked logits get ``finfo.min`` rather than ``-inf``: a query whose keys are
all padding (e.g. a padded decoder row with zero predicted tokens) then gets a
finite uniform average instead of NaN, and NaN can never reach the loss.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention over ``num_heads`` heads with w_q, w_k, w_v, w_o."""

    def __init__(
        self,
        *,
        dim: int,
        num_heads: int,
        dropout: float = 0.0,
        impl: Literal["math", "sdpa"] = "math",
        bias: bool = True,
    ) -> None:
        super().__init__()
        assert dim % num_heads == 0, f"d_model={dim} is not divisible by num_heads={num_heads}; pick heads dividing D"
        assert impl in ("math", "sdpa"), f"attention impl {impl!r} must be 'math' or 'sdpa'"
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.impl = impl
        self.dropout = dropout
        self.w_q = nn.Linear(dim, dim, bias=bias)
        self.w_k = nn.Linear(dim, dim, bias=bias)
        self.w_v = nn.Linear(dim, dim, bias=bias)
        self.w_o = nn.Linear(dim, dim, bias=bias)

    # ------------------------------------------------------------------ #
    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)  # (B, h, N, d)

    def project_q(self, query: torch.Tensor) -> torch.Tensor:
        """(B, N, D) -> (B, h, N, d)."""
        return self._split_heads(self.w_q(query))  # (B, h, N, d)

    def project_kv(self, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S, D) x 2 -> k, v each (B, h, S, d); cached by the AR decoder between steps."""
        return self._split_heads(self.w_k(key)), self._split_heads(self.w_v(value))  # (B, h, S, d) x 2

    def attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        *,
        key_pad_mask: torch.Tensor | None = None,
        causal: bool = False,
    ) -> torch.Tensor:
        """Attention over already-projected heads.

        Args:
            q: (B, h, N, d) queries; k, v: (B, h, S, d).
            key_pad_mask: (B, S) bool, True = padding key (never attended to).
            causal: query i sees keys j <= i + (S - N), i.e. the last N of S
                positions (S == N in training; S > N when a cache holds the prefix).
        Returns:
            (B, N, D) after the output projection w_o.
        """
        b, h, n, d = q.shape
        s = k.size(2)
        neg = torch.finfo(q.dtype).min
        # One additive bias (0 = attend, finfo.min = blocked) serves both impls.
        bias = None
        if key_pad_mask is not None:
            bias = torch.zeros(b, 1, 1, s, dtype=q.dtype, device=q.device)  # (B, 1, 1, S)
            bias = bias.masked_fill(key_pad_mask[:, None, None, :], neg)  # (B, 1, 1, S)
        if causal:
            # Key j is in the future of query i when j > i + (S - N).
            future = torch.ones(n, s, dtype=torch.bool, device=q.device).triu(diagonal=s - n + 1)  # (N, S)
            causal_bias = torch.zeros(n, s, dtype=q.dtype, device=q.device).masked_fill(future, neg)  # (N, S)
            bias = causal_bias if bias is None else bias.masked_fill(future, neg)  # (B, 1, N, S)
        p_drop = self.dropout if self.training else 0.0

        if self.impl == "sdpa":
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=p_drop)  # (B, h, N, d)
        else:
            # Why 1/sqrt(d): if the d components of q and k are independent with zero
            # mean and unit variance, q.k = sum_i q_i k_i has variance d. Dividing by
            # sqrt(d) keeps the logits at unit variance whatever the head size, so the
            # softmax does not saturate into one-hot rows with vanishing gradients
            # (Vaswani et al. 2017, section 3.2.1, footnote 4).
            scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(d)  # (B, h, N, S)
            if bias is not None:
                # masked_fill (not +bias) so a blocked logit is exactly finfo.min, never -inf.
                scores = scores.masked_fill(bias == neg, neg)  # (B, h, N, S)
            weights = torch.softmax(scores, dim=-1)  # (B, h, N, S)
            weights = F.dropout(weights, p=p_drop, training=self.training)
            out = torch.matmul(weights, v)  # (B, h, N, d)
        out = out.transpose(1, 2).reshape(b, n, h * d)  # (B, N, D)
        return self.w_o(out)  # (B, N, D)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        *,
        key_pad_mask: torch.Tensor | None = None,
        causal: bool = False,
    ) -> torch.Tensor:
        """query (B, N, D), key/value (B, S, D), key_pad_mask (B, S) True = pad -> (B, N, D)."""
        k, v = self.project_kv(key, value)  # (B, h, S, d) x 2
        return self.attend(self.project_q(query), k, v, key_pad_mask=key_pad_mask, causal=causal)  # (B, N, D)
