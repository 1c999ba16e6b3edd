"""2D positional encodings for a grid of h x w tokens, flattened row-major to N = h*w.

Both variants give half of the D channels to the row index and half to the
column index and concatenate them (as DETR and MAE do), so a token's code
says "row i, column j" and attention can tell neighbours apart in both axes.

Both are defined on a reference grid of ``ref_size`` tokens per side
(``model.transformer.pos_max_size``) and resampled to the actual grid, as ViT and
TransUNet interpolate their position table when the image size changes: token i of
an h-token axis sits at the pixel-centre position

    p_i = (i + 0.5) * ref_size / h - 0.5,

so p_i = i when h = ref_size, and the code of a token depends on where it lies in the
image, not on how many tokens there are. A model trained at 64^2 thus sees the same
codes, only denser, when it runs on a 256^2 image, instead of codes it never saw
(unnormalised sin/cos positions) or rows of a table that were never trained.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

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


def grid_positions(n: int, ref_size: int, device: torch.device | None = None) -> torch.Tensor:
    """(n,) float32 positions p_i = (i + 0.5) * ref_size / n - 0.5 on the reference grid (module doc)."""
    return (torch.arange(n, dtype=torch.float32, device=device) + 0.5) * (ref_size / n) - 0.5


def sinusoidal_2d(h: int, w: int, dim: int, device: torch.device | None = None, *, ref_size: int | None = None
                  ) -> torch.Tensor:
    """Fixed 2D code (h*w, dim): dim/2 channels for the row position, dim/2 for the column; dim % 4 == 0.

    ``ref_size``: positions on a reference grid of that size (module doc); None = the
    integer indices 0..h-1, 0..w-1.
    """
    if dim % 4:
        raise ValueError(f"sinusoidal 2D positions need embed_dim divisible by 4, got {dim}")
    row_pos = grid_positions(h, ref_size, device) if ref_size else torch.arange(h, device=device)
    col_pos = grid_positions(w, ref_size, device) if ref_size else torch.arange(w, device=device)
    rows = sinusoidal_1d(row_pos, dim // 2)  # (h, D/2)
    cols = sinusoidal_1d(col_pos, dim // 2)  # (w, D/2)
    grid = torch.cat(
        [rows[:, None, :].expand(h, w, dim // 2), cols[None, :, :].expand(h, w, dim // 2)], dim=-1
    )  # (h, w, D)
    return grid.reshape(h * w, dim)  # (N, D), row-major like x.flatten(2)


class SinusoidalPositionalEncoding2D(nn.Module):
    """Parameter-free 2D sin/cos code at positions normalised to a ``ref_size`` grid; any grid size."""

    def __init__(self, dim: int, ref_size: int = 32) -> None:
        super().__init__()
        if dim % 4:
            raise ValueError(f"sinusoidal 2D positions need embed_dim divisible by 4, got {dim}; use a multiple of 4")
        self.dim, self.ref_size = dim, ref_size

    def forward(self, h: int, w: int, device: torch.device | None = None) -> torch.Tensor:
        """Grid size -> (1, h*w, D) float32 code to add to the tokens."""
        return sinusoidal_2d(h, w, self.dim, device, ref_size=self.ref_size)[None]  # (1, N, D)


def resample_table(table: torch.Tensor, n: int) -> torch.Tensor:
    """(S, E) table -> (n, E): itself when n == S, else linear resampling at the pixel centres.

    Downsampling is antialiased (a triangle filter as wide as the scale factor), so every
    entry of the table contributes and receives gradient; upsampling is plain linear
    interpolation, as ViT/TransUNet resize their position embeddings.
    """
    if n == table.shape[0]:
        return table
    grid = table.t()[None, :, :, None]  # (1, E, S, 1)
    out = F.interpolate(grid, size=(n, 1), mode="bilinear", align_corners=False, antialias=n < table.shape[0])
    return out[0, :, :, 0].t()  # (n, E)


class LearnedPositionalEncoding2D(nn.Module):
    """Learned row and column embeddings (DETR style), each D/2 wide, on a ``max_size`` reference grid.

    A grid of another size resamples the tables (:func:`resample_table`), so any grid works.
    """

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
        rows = resample_table(self.row_embed.weight, h)  # (h, D/2)
        cols = resample_table(self.col_embed.weight, w)  # (w, D/2)
        half = self.dim // 2
        grid = torch.cat([rows[:, None, :].expand(h, w, half), cols[None, :, :].expand(h, w, half)], dim=-1)  # (h, w, D)
        return grid.reshape(1, h * w, self.dim)  # (1, N, D)


def build_pos_encoding(kind: str, dim: int, max_size: int) -> nn.Module:
    """``sinusoidal`` or ``learned``; ``max_size`` = the reference grid side both are defined on."""
    if kind == "sinusoidal":
        return SinusoidalPositionalEncoding2D(dim, max_size)
    if kind == "learned":
        return LearnedPositionalEncoding2D(dim, max_size)
    raise ValueError(f"unknown pos_encoding {kind!r}; set model.transformer.pos_encoding to one of: {', '.join(POS_ENCODINGS)}")
