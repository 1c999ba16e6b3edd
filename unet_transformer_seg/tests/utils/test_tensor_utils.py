"""assert_shape, check_nan_inf and the seed helper."""

import random

import numpy as np
import pytest
import torch

from src.utils.tensor_utils import assert_shape, check_nan_inf, seed_everything


def test_assert_shape_binds_names_across_calls():
    dims = assert_shape(torch.zeros(2, 3, 8, 8), "B,3,H,W")
    assert dims == {"B": 2, "H": 8, "W": 8}
    assert assert_shape(torch.zeros(2, 5, 8, 8), "B,K,H,W", **dims)["K"] == 5
    with pytest.raises(ValueError):
        assert_shape(torch.zeros(2, 5, 8, 9), "B,K,H,W", **dims)


def test_assert_shape_message_shows_expected_and_actual():
    with pytest.raises(ValueError) as err:
        assert_shape(torch.zeros(4, 3, 16, 17), "B,C,H,W", name="logits", W=16)
    msg = str(err.value)
    assert "logits" in msg and "W=16" in msg and "(4, 3, 16, 17)" in msg and "dimension 3" in msg


def test_assert_shape_rank_literal_and_wildcard():
    with pytest.raises(ValueError, match="expected 4 dimensions, got 3"):
        assert_shape(torch.zeros(1, 2, 3), "B,C,H,W")
    with pytest.raises(ValueError, match="dimension 1 must be 3"):
        assert_shape(torch.zeros(1, 4, 5), "B,3,*")
    assert assert_shape(torch.zeros(1, 3, 5), "B,3,*") == {"B": 1}
    with pytest.raises(ValueError, match=r"dimension 1 \(N\)"):
        assert_shape(torch.zeros(2, 3), "N,N")


def test_check_nan_inf_reports_counts_and_first_index():
    check_nan_inf(torch.ones(3), "fine")
    t = torch.zeros(2, 3)
    t[1, 2] = float("nan")
    t[0, 1] = float("inf")
    with pytest.raises(FloatingPointError) as err:
        check_nan_inf(t, "loss")
    msg = str(err.value)
    assert "loss" in msg and "1 NaN" in msg and "1 Inf" in msg and "(0, 1)" in msg


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    seed_everything(3)
    first = draw()
    seed_everything(3)
    assert draw() == first
    seed_everything(4)
    assert draw() != first
