"""U-Net parts and assembly: shapes, names, size errors, channels_last, encode/decode split."""

import pytest
import torch

from src.models.unet import UNet
from src.models.unet_parts import DoubleConv, Down, OutConv, Up, make_norm


def test_parts_shapes():
    x = torch.randn(2, 3, 16, 12)
    assert DoubleConv(3, 8)(x).shape == (2, 8, 16, 12)
    assert Down(3, 8)(x).shape == (2, 8, 8, 6)
    assert OutConv(3, 5)(x).shape == (2, 5, 16, 12)
    low, skip = torch.randn(2, 16, 4, 6), torch.randn(2, 8, 8, 12)
    for mode in ("transpose", "bilinear"):
        assert Up(16, 8, 8, mode)(low, skip).shape == (2, 8, 8, 12)


def test_make_norm_kinds():
    assert isinstance(make_norm("batch", 12), torch.nn.BatchNorm2d)
    gn = make_norm("group", 12)
    assert isinstance(gn, torch.nn.GroupNorm) and gn.num_groups == 6  # largest divisor of 12 that is <= 8
    with pytest.raises(ValueError, match="model.norm"):
        make_norm("layer", 8)


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("norm", ["batch", "group"])
@pytest.mark.parametrize("upsample", ["transpose", "bilinear"])
def test_unet_shape(depth, norm, upsample):
    model = UNet(num_classes=5, base_channels=4, depth=depth, norm=norm, upsample=upsample)
    x = torch.randn(2, 3, 16, 24)
    out = model(x)
    assert out.shape == (2, 5, 16, 24)
    assert out.dtype == torch.float32


def test_unet_paper_names():
    model = UNet(base_channels=4, depth=3)
    names = {n for n, _ in model.named_children()}
    assert {"inc", "down1", "down2", "down3", "bottleneck", "up1", "up2", "up3", "outc"} <= names
    assert "down4" not in names


def test_unet_encode_decode_split():
    model = UNet(num_classes=3, base_channels=4, depth=2).eval()
    x = torch.randn(1, 3, 16, 16)
    b, skips = model.encode(x)
    assert b.shape == (1, 16, 4, 4)  # 4 * 2**2 channels at 16 / 2**2
    assert [s.shape[1:] for s in skips] == [(4, 16, 16), (8, 8, 8)]
    torch.testing.assert_close(model.decode(b, skips), model(x))


def test_unet_size_error_says_what_to_use():
    model = UNet(base_channels=4, depth=3)
    with pytest.raises(ValueError, match=r"width 100 is not divisible by 2\*\*depth=8; use a multiple of 8"):
        model(torch.randn(1, 3, 64, 100))
    with pytest.raises(ValueError, match="in_channels=3"):
        model(torch.randn(1, 1, 64, 64))


def test_unet_grad_checkpointing_attribute():
    model = UNet(base_channels=4, depth=2)
    assert model.grad_checkpointing is False
    model.grad_checkpointing = True
    assert model.grad_checkpointing is True


@pytest.mark.parametrize("norm", ["batch", "group"])
@pytest.mark.parametrize("upsample", ["transpose", "bilinear"])
def test_unet_channels_last_matches(norm, upsample):
    torch.manual_seed(0)
    model = UNet(num_classes=4, base_channels=8, depth=2, norm=norm, upsample=upsample)
    x = torch.randn(2, 3, 32, 32)
    for train in (False, True):  # eval uses running stats, train uses batch stats
        model.train(train)
        ref = model(x)
        model_cl = model.to(memory_format=torch.channels_last)
        out = model_cl(x.to(memory_format=torch.channels_last))
        model.to(memory_format=torch.contiguous_format)
        assert out.shape == ref.shape
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
