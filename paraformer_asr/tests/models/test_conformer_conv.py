import torch

from src.models.conformer_conv import ConformerConvModule
from src.models.feed_forward import FeedForward
from src.utils.masks import make_pad_mask


def test_feed_forward_shape():
    assert FeedForward(dim=8, ffn_dim=16, activation="swish")(torch.randn(2, 5, 8)).shape == (2, 5, 8)


def test_conv_module_shape_and_padding_does_not_leak():
    torch.manual_seed(0)
    conv = ConformerConvModule(dim=8, kernel_size=5).eval()
    x = torch.randn(1, 6, 8)
    alone = conv(x, make_pad_mask(torch.tensor([6]), 6))
    assert alone.shape == (1, 6, 8)
    # Garbage in 3 padding frames sits inside the kernel's reach of the last real frames.
    padded = torch.cat([x, 50 * torch.randn(1, 3, 8)], dim=1)
    out = conv(padded, make_pad_mask(torch.tensor([6]), 9))
    torch.testing.assert_close(out[:, :6], alone, atol=1e-5, rtol=1e-5)
