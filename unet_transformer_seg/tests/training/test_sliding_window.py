"""Sliding-window inference: weights, window placement, equality with a whole-image pass, bounded tiles."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from src.training.sliding_window import gaussian_importance, sliding_window_logits, window_starts


def test_gaussian_importance_peaks_at_the_centre_and_is_positive():
    g = gaussian_importance(16)
    assert g.shape == (16, 16) and g.dtype == torch.float32
    assert torch.allclose(g, g.flip(0)) and torch.allclose(g, g.T)
    assert g[7:9, 7:9].min() == g.max() and g.min() > 0
    assert g[0, 0] < 1e-3 * g.max()  # sigma = tile / 8: corners barely count


@pytest.mark.parametrize("size,tile,overlap", [(100, 32, 0.5), (64, 32, 0.0), (33, 32, 0.25), (32, 32, 0.5),
                                               (2048, 256, 0.5)])
def test_window_starts_cover_the_axis_with_the_overlap(size, tile, overlap):
    starts = window_starts(size, tile, overlap)
    assert starts[0] == 0 and starts[-1] == size - tile
    strides = np.diff(starts)
    assert (strides > 0).all() and (strides <= tile * (1 - overlap) + 0.5).all()


class Recorder(nn.Module):
    """A pointwise model (1x1 conv) that records the shapes it is called with."""

    def __init__(self, k=3):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, k, 1)
        self.shapes = []

    def forward(self, x):
        self.shapes.append(tuple(x.shape))
        return self.conv(x)


def test_pointwise_model_equals_the_whole_image_pass_on_a_large_image():
    # A 2048 x 1536 image (W x H): the model only ever sees (<= 4, 3, 256, 256) tiles,
    # and for a pointwise model the weighted average equals one whole-image pass.
    model = Recorder()
    x = torch.randn(1, 3, 1536, 2048)
    out = sliding_window_logits(model, x, tile=256, overlap=0.5, batch_size=4)
    assert out.shape == (1, 3, 1536, 2048) and out.dtype == torch.float32
    assert {s[1:] for s in model.shapes} == {(3, 256, 256)} and max(s[0] for s in model.shapes) <= 4
    assert sum(s[0] for s in model.shapes) == len(window_starts(1536, 256, 0.5)) * len(window_starts(2048, 256, 0.5))
    with torch.no_grad():
        full = model.conv(x)
    assert torch.allclose(out, full, atol=1e-5)


def test_small_images_are_padded_to_one_tile_and_cropped_back():
    model = Recorder()
    x = torch.randn(1, 3, 20, 9)
    out = sliding_window_logits(model, x, tile=32)
    assert out.shape == (1, 3, 20, 9) and model.shapes == [(1, 3, 32, 32)]
    with torch.no_grad():
        assert torch.allclose(out, model.conv(x), atol=1e-5)


def test_errors_name_the_setting():
    with pytest.raises(ValueError, match="overlap"):
        sliding_window_logits(Recorder(), torch.randn(1, 3, 8, 8), tile=8, overlap=1.0)
    with pytest.raises(ValueError, match="one image"):
        sliding_window_logits(Recorder(), torch.randn(2, 3, 8, 8), tile=8)
