"""2D positional encodings for a grid of h x w tokens, flattened row-major to N = h*w.

Both variants give half of the D channels to the row index and half to the
column index and concatenate them (as DETR and MAE do), so a token's code
says "row i, column j" and attention can tell neighbours apart in both axes.
"""

from __future__ import annotations

import torch
import torch.nn as nn

POS_ENCODINGS = ("sinusoidal", "learned")


def sinusoidal_1d(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer sin/cos code of integer ``positions`` (L,) -> (L, dim), dim even.

    Channel pair k uses the frequency w_k = 1 / 10000**(2k/dim), k = 0..dim/2-1, so the
    wavelengths run geometrically from 2*pi to 10000*2*pi; the code of p + o is a
    rotation of the code of p, which lets attention express relative offsets
    (Vaswani et al., 2017, Sec. 3.5).
    """
    k = torch.arange(dim // 2, dtype=torch.float32, device=positions.device)  # (dim/2,)
    freqs = torch.exp(-torch.log(torch.tensor(10000.0)) * 2 * k / dim)  # (dim/2,)
    angles = positions.float()[:, None] * freqs[None, :]  # (L, dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)  # (L, dim)


def sinusoidal_2d(h: int, w: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """Fixed 2D code (h*w, dim): dim/2 channels for the row index, dim/2 for the column; dim % 4 == 0."""
    if dim % 4:
        raise ValueError(f"sinusoidal 2D positions need embed_dim divisible by 4, got {dim}")
    rows = sinusoidal_1d(torch.arange(h, device=device), dim // 2)  # (h, D/2)
    cols = sinusoidal_1d(torch.arange(w, device=device), dim // 2)  # (w, D/2)
    grid = torch.cat(
        [rows[:, None, :].expand(h, w, dim // 2), cols[None, :, :].expand(h, w, dim // 2)], dim=-1
    )  # (h, w, D)
    return grid.reshape(h * w, dim)  # (N, D), row-major like x.flatten(2)


class SinusoidalPositionalEncoding2D(nn.Module):
    """Parameter-free 2D sin/cos code; works for any grid size."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim % 4:
            raise ValueError(f"sinusoidal 2D positions need embed_dim divisible by 4, got {dim}; use a multiple of 4")
        self.dim = dim

    def forward(self, h: int, w: int, device: torch.device | None = None) -> torch.Tensor:
        """Grid size -> (1, h*w, D) float32 code to add to the tokens."""
        return sinusoidal_2d(h, w, self.dim, device)[None]  # (1, N, D)


class LearnedPositionalEncoding2D(nn.Module):
    """Learned row and column embeddings (DETR style), each D/2 wide, for grids up to max_size per side."""

    def __init__(self, dim: int, max_size: int) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"learned 2D positions need an even embed_dim, got {dim}")
        self.dim = dim
        self.max_size = max_size
        self.row_embed = nn.Embedding(max_size, dim // 2)
        self.col_embed = nn.Embedding(max_size, dim // 2)
        # Small init (as ViT's pos-embedding): the code starts as a gentle perturbation
        # of the tokens instead of swamping them.
        nn.init.trunc_normal_(self.row_embed.weight, std=0.02)
        nn.init.trunc_normal_(self.col_embed.weight, std=0.02)

    def forward(self, h: int, w: int, device: torch.device | None = None) -> torch.Tensor:
        """Grid size -> (1, h*w, D) code to add to the tokens."""
        if h > self.max_size or w > self.max_size:
            raise ValueError(
                f"bottleneck grid {h}x{w} exceeds model.transformer.pos_max_size={self.max_size}; "
                f"raise it to at least {max(h, w)} or use pos_encoding=sinusoidal"
            )
        device = self.row_embed.weight.device
        rows = self.row_embed(torch.arange(h, device=device))  # (h, D/2)
        cols = self.col_embed(torch.arange(w, device=device))  # (w, D/2)
        half = self.dim // 2
        grid = torch.cat([rows[:, None, :].expand(h, w, half), cols[None, :, :].expand(h, w, half)], dim=-1)  # (h, w, D)
        return grid.reshape(1, h * w, self.dim)  # (1, N, D)


def build_pos_encoding(kind: str, dim: int, max_size: int) -> nn.Module:
    """``sinusoidal`` or ``learned`` (max_size = largest grid side the learned tables cover)."""
    if kind == "sinusoidal":
        return SinusoidalPositionalEncoding2D(dim)
    if kind == "learned":
        return LearnedPositionalEncoding2D(dim, max_size)
    raise ValueError(f"unknown pos_encoding {kind!r}; set model.transformer.pos_encoding to one of: {', '.join(POS_ENCODINGS)}")
