"""2D positional encodings: shapes, values at hand-checked positions, row-major order, errors."""

import math

import pytest
import torch

from src.models.pos_encoding import (
    LearnedPositionalEncoding2D,
    SinusoidalPositionalEncoding2D,
    build_pos_encoding,
    sinusoidal_1d,
    sinusoidal_2d,
)


def test_sinusoidal_1d_values():
    pe = sinusoidal_1d(torch.arange(3), 4)  # frequencies 1 and 1/100 (= 10000**(-2/4))
    expected = torch.tensor(
        [[math.sin(p), math.sin(p / 100), math.cos(p), math.cos(p / 100)] for p in range(3)]
    )
    torch.testing.assert_close(pe, expected)


def test_sinusoidal_2d_layout():
    h, w, dim = 3, 5, 8
    pe = SinusoidalPositionalEncoding2D(dim, ref_size=6)(h, w)
    assert pe.shape == (1, h * w, dim)
    grid = pe[0].reshape(h, w, dim)
    # positions on the 6-grid at the pixel centres: (i + 0.5) * 6 / n - 0.5
    row_pos = torch.tensor([(i + 0.5) * 6 / h - 0.5 for i in range(h)])  # 0.5, 2.5, 4.5
    col_pos = torch.tensor([(j + 0.5) * 6 / w - 0.5 for j in range(w)])
    rows, cols = sinusoidal_1d(row_pos, 4), sinusoidal_1d(col_pos, 4)
    for i in range(h):
        for j in range(w):
            # token i*w + j (row-major, like flatten) = [code(row i), code(col j)]
            torch.testing.assert_close(grid[i, j], torch.cat([rows[i], cols[j]]))
    # all positions are distinct
    assert torch.cdist(pe[0], pe[0]).add(torch.eye(h * w)).min() > 1e-3


def test_sinusoidal_positions_are_normalised_to_the_reference_grid():
    enc = SinusoidalPositionalEncoding2D(8, ref_size=4)
    # On the reference grid the positions are the integer indices (the unnormalised code).
    torch.testing.assert_close(enc(4, 4), sinusoidal_2d(4, 4, 8)[None])
    # A grid twice as fine puts tokens 2i and 2i+1 around old position i: +-0.25.
    fine = enc(8, 1)[0, :, :4]  # (8, D/2) row codes
    torch.testing.assert_close(fine[0], sinusoidal_1d(torch.tensor([-0.25]), 4)[0])
    torch.testing.assert_close(fine[7], sinusoidal_1d(torch.tensor([3.25]), 4)[0])


def test_learned_shape_and_grad():
    enc = LearnedPositionalEncoding2D(8, max_size=4)
    pe = enc(4, 3)
    assert pe.shape == (1, 12, 8)
    grid = pe[0].reshape(4, 3, 8)
    # rows: the table itself (h == max_size); columns: resampled
    torch.testing.assert_close(grid[1, 2, :4], enc.row_embed.weight[1])
    torch.testing.assert_close(grid[:, 0, 4:], grid[:, 0, 4:][0].expand(4, 4))
    pe.sum().backward()
    assert (enc.row_embed.weight.grad.abs().sum(1) > 0).all()
    assert (enc.col_embed.weight.grad.abs().sum(1) > 0).all()  # antialiased 4 -> 3: every entry counts


def test_learned_table_is_interpolated_for_larger_grids():
    enc = LearnedPositionalEncoding2D(2, max_size=2)
    with torch.no_grad():
        enc.row_embed.weight.copy_(torch.tensor([[0.0], [1.0]]))
        enc.col_embed.weight.copy_(torch.tensor([[0.0], [1.0]]))
    rows = enc(4, 1)[0, :, 0]  # 2 -> 4 linear at pixel centres: 0, 0.25, 0.75, 1
    torch.testing.assert_close(rows, torch.tensor([0.0, 0.25, 0.75, 1.0]))
    assert enc(64, 48).shape == (1, 64 * 48, 2)  # used to raise ValueError above max_size


def test_errors():
    with pytest.raises(ValueError, match="divisible by 4"):
        SinusoidalPositionalEncoding2D(6)
    with pytest.raises(ValueError, match="sinusoidal, learned"):
        build_pos_encoding("rotary", 8, 4)
