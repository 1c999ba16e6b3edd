"""Multi-head self-attention (Vaswani et al., 2017, Sec. 3.2), written out.

``impl="math"`` spells every step; ``impl="sdpa"`` hands the same computation to
``F.scaled_dot_product_attention`` (fused kernels). tests/models/test_attention.py
proves the two equal each other and ``nn.MultiheadAttention``.

``fused_qkv`` (default on) computes Q, K and V with one matmul against the stacked
``[w_q; w_k; w_v]`` weights instead of three: the same products, one larger GEMM and
fewer kernel launches (measured ~1.2x faster for the projections at the bottleneck's
sizes, docs/BENCHMARKS.md). The parameters stay three ``nn.Linear`` named as in the
paper, so checkpoints are the same either way.

Mask polarity: in ``attn_mask`` and ``key_pad_mask`` **True = masked** (may not be
attended to), as in ``nn.MultiheadAttention``. SDPA uses the opposite polarity for
boolean masks (True = may attend); the conversion happens in one place below.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

ATTENTION_IMPLS = ("math", "sdpa")


def combine_masks(
    attn_mask: torch.Tensor | None, key_pad_mask: torch.Tensor | None, batch: int, n: int
) -> torch.Tensor | None:
    """Merge the masks into one bool tensor broadcastable to (B, h, N, N), True = masked; None if both are None.

    Args:
        attn_mask: (N, N) or (B, N, N) bool, True = query i may not attend to key j.
        key_pad_mask: (B, N) bool, True = key j is padding.
    """
    masked = None
    if attn_mask is not None:
        if attn_mask.dtype != torch.bool:
            raise TypeError(f"attn_mask must be bool (True = masked), got {attn_mask.dtype}")
        if attn_mask.shape[-2:] != (n, n) or attn_mask.dim() not in (2, 3):
            raise ValueError(f"attn_mask must be (N, N) or (B, N, N) with N={n}, got {tuple(attn_mask.shape)}")
        masked = attn_mask.unsqueeze(-3) if attn_mask.dim() == 3 else attn_mask  # (B, 1, N, N) or (N, N)
    if key_pad_mask is not None:
        if key_pad_mask.dtype != torch.bool:
            raise TypeError(f"key_pad_mask must be bool (True = padding), got {key_pad_mask.dtype}")
        if tuple(key_pad_mask.shape) != (batch, n):
            raise ValueError(f"key_pad_mask must be (B, N)=({batch}, {n}), got {tuple(key_pad_mask.shape)}")
        pad = key_pad_mask[:, None, None, :]  # (B, 1, 1, N): the same keys are hidden from every query
        masked = pad if masked is None else masked | pad  # (B, 1, N, N)
    return masked


class MultiHeadSelfAttention(nn.Module):
    """Self-attention over tokens: forward(x (B, N, D)) -> (B, N, D)."""

    def __init__(
        self, *, dim: int, num_heads: int, attn_dropout: float = 0.0, bias: bool = True, impl: str = "math",
        fused_qkv: bool = True,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(
                f"embed_dim={dim} is not divisible by num_heads={num_heads}; "
                f"choose model.transformer.num_heads among the divisors of {dim}"
            )
        if impl not in ATTENTION_IMPLS:
            raise ValueError(f"unknown attention impl {impl!r}; set model.attention_impl to one of: math, sdpa")
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.attn_dropout = attn_dropout
        self.impl = impl
        self.fused_qkv = fused_qkv
        self.w_q = nn.Linear(dim, dim, bias=bias)
        self.w_k = nn.Linear(dim, dim, bias=bias)
        self.w_v = nn.Linear(dim, dim, bias=bias)
        self.w_o = nn.Linear(dim, dim, bias=bias)

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        b, n, _ = t.shape
        return t.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)  # (B, h, N, d)

    def forward(
        self,
        x: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
        key_pad_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attend every token to every (unmasked) token.

        Args:
            x: (B, N, D) float tokens.
            attn_mask: optional (N, N) or (B, N, N) bool, True = masked.
            key_pad_mask: optional (B, N) bool, True = padding token (never attended to).
        Returns:
            (B, N, D) float. A query whose keys are all masked gets NaN, as in torch.
        """
        b, n, d_model = x.shape
        if d_model != self.dim:
            raise ValueError(f"expected tokens (B, N, {self.dim}), got {tuple(x.shape)}")
        if self.fused_qkv:
            weight = torch.cat([self.w_q.weight, self.w_k.weight, self.w_v.weight])  # (3D, D)
            bias = None if self.w_q.bias is None else torch.cat([self.w_q.bias, self.w_k.bias, self.w_v.bias])
            qkv = F.linear(x, weight, bias).view(b, n, 3, self.num_heads, self.head_dim)  # (B, N, 3, h, d)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, h, N, d)
        else:
            q = self._split_heads(self.w_q(x))  # (B, h, N, d)
            k = self._split_heads(self.w_k(x))  # (B, h, N, d)
            v = self._split_heads(self.w_v(x))  # (B, h, N, d)
        masked = combine_masks(attn_mask, key_pad_mask, b, n)  # broadcastable to (B, h, N, N), or None
        p_drop = self.attn_dropout if self.training else 0.0

        if self.impl == "sdpa":
            # SDPA's boolean mask means "may attend", the opposite of ours.
            allowed = None if masked is None else ~masked
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p_drop)  # (B, h, N, d)
        else:
            # Why 1/sqrt(d): if the entries of q and k are independent with mean 0 and
            # variance 1, then q.k = sum_{i<d} q_i k_i is a sum of d terms of variance 1,
            # so Var(q.k) = d. Dividing by sqrt(d) brings the logits back to variance 1;
            # without it the softmax saturates as d grows and its gradients vanish
            # (Vaswani et al., 2017, Sec. 3.2.1, footnote 4).
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)  # (B, h, N, N)
            if masked is not None:
                # exp(-inf) = 0: a masked key receives exactly zero weight after the softmax.
                scores = scores.masked_fill(masked, float("-inf"))
            # In fp32 even under bf16 autocast (the matmul above ran in bf16): exp and the row
            # sums are where 8 mantissa bits would hurt; the product with v casts back.
            weights = scores.softmax(dim=-1, dtype=torch.float32)  # (B, h, N, N), each row sums to 1
            weights = F.dropout(weights, p=p_drop)  # drops whole attention links, as in the paper
            out = weights @ v  # (B, h, N, d)

        out = out.transpose(1, 2).reshape(b, n, self.dim)  # (B, N, h*d) = (B, N, D): concatenate the heads
        return self.w_o(out)  # (B, N, D)
