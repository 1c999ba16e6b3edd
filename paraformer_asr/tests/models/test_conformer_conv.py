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


def test_batch_norm_sees_zeroed_padding_in_training():
    """The doc's promise: the norm's input is exactly 0 on padding (before: the depthwise conv's bias and kernel filled it)."""
    torch.manual_seed(0)
    conv = ConformerConvModule(dim=8, kernel_size=5, norm="batch_norm").train()
    seen = []
    conv.norm.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach()))
    lens = torch.tensor([9, 5])
    pad_mask = make_pad_mask(lens, 9)  # (B, T')
    conv(torch.randn(2, 9, 8) + 10 * pad_mask.unsqueeze(-1), pad_mask)
    norm_in = seen[0]  # (B, D, T')
    assert torch.all(norm_in[1, :, 5:] == 0)
    assert torch.all(norm_in[:, :, :5].abs().sum(1) > 0)  # real frames are not zeroed
    # And a batch-norm batch's statistics are those of the real frames plus exact zeros.
    real = norm_in.transpose(1, 2)[~pad_mask]  # (N, D)
    zeros = int(pad_mask.sum())
    mean = real.sum(0) / (real.size(0) + zeros)
    torch.testing.assert_close(norm_in.mean(dim=(0, 2)), mean, atol=1e-5, rtol=1e-5)
