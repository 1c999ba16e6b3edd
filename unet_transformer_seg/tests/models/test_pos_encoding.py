"""2D positional encodings: shapes, values at hand-checked positions, row-major order, errors."""

import math

import pytest
import torch

from src.models.pos_encoding import (
    LearnedPositionalEncoding2D,
    SinusoidalPositionalEncoding2D,
    build_pos_encoding,
    sinusoidal_1d,
)


def test_sinusoidal_1d_values():
    pe = sinusoidal_1d(torch.arange(3), 4)  # frequencies 1 and 1/100 (= 10000**(-2/4))
    expected = torch.tensor(
        [[math.sin(p), math.sin(p / 100), math.cos(p), math.cos(p / 100)] for p in range(3)]
    )
    torch.testing.assert_close(pe, expected)


def test_sinusoidal_2d_layout():
    h, w, dim = 3, 5, 8
    pe = SinusoidalPositionalEncoding2D(dim)(h, w)
    assert pe.shape == (1, h * w, dim)
    grid = pe[0].reshape(h, w, dim)
    rows, cols = sinusoidal_1d(torch.arange(h), 4), sinusoidal_1d(torch.arange(w), 4)
    for i in range(h):
        for j in range(w):
            # token i*w + j (row-major, like flatten) = [code(row i), code(col j)]
            torch.testing.assert_close(grid[i, j], torch.cat([rows[i], cols[j]]))
    # all positions are distinct
    assert torch.cdist(pe[0], pe[0]).add(torch.eye(h * w)).min() > 1e-3


def test_learned_shape_and_grad():
    enc = LearnedPositionalEncoding2D(8, max_size=4)
    pe = enc(2, 3)
    assert pe.shape == (1, 6, 8)
    grid = pe[0].reshape(2, 3, 8)
    torch.testing.assert_close(grid[1, 2], torch.cat([enc.row_embed.weight[1], enc.col_embed.weight[2]]))
    pe.sum().backward()
    assert enc.row_embed.weight.grad[:2].abs().sum() > 0
    assert enc.row_embed.weight.grad[2:].abs().sum() == 0  # rows beyond the grid are untouched


def test_errors():
    with pytest.raises(ValueError, match="pos_max_size=4"):
        LearnedPositionalEncoding2D(8, max_size=4)(5, 2)
    with pytest.raises(ValueError, match="divisible by 4"):
        SinusoidalPositionalEncoding2D(6)
    with pytest.raises(ValueError, match="sinusoidal, learned"):
        build_pos_encoding("rotary", 8, 4)
