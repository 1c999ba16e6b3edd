"""U-Net + bottleneck transformer: shapes, init equals the plain U-Net, math == sdpa, checkpointing on == off."""

import pytest
import torch

from src.models.unet import UNet
from src.models.unet_transformer import BottleneckTransformer, UNetTransformer

TINY = dict(num_classes=3, base_channels=4, depth=2, embed_dim=16, num_layers=2, num_heads=4)


def _randomise_proj_out(model: UNetTransformer) -> None:
    # proj_out starts at zero (the transformer's correction is off); give it weights
    # so that the transformer's parameters affect the output in these tests.
    torch.nn.init.normal_(model.bottleneck.proj_out.weight, std=0.1)


@pytest.mark.parametrize("pos_encoding", ["sinusoidal", "learned"])
@pytest.mark.parametrize("project", [True, False])
def test_shape(pos_encoding, project):
    kw = dict(TINY, pos_encoding=pos_encoding, project=project)
    if not project:
        kw["embed_dim"] = 16  # = base_channels * 2**depth, the bottleneck width
    model = UNetTransformer(**kw)
    assert model(torch.randn(2, 3, 16, 32)).shape == (2, 3, 16, 32)


def test_bottleneck_shape_and_names():
    bt = BottleneckTransformer(channels=8, embed_dim=12, num_layers=1, num_heads=3)
    assert bt(torch.randn(2, 8, 3, 5)).shape == (2, 8, 3, 5)
    model = UNetTransformer(**TINY)
    names = {n for n, _ in model.named_children()}
    assert {"inc", "down1", "down2", "bottleneck", "up1", "up2", "outc"} <= names


def test_project_false_needs_matching_width():
    with pytest.raises(ValueError, match="set model.transformer.embed_dim=16 or project=true"):
        UNetTransformer(**dict(TINY, embed_dim=32, project=False))


@pytest.mark.parametrize("project", [True, False])
def test_starts_as_the_plain_unet(project):
    """Zero-initialised proj_out (project) or closing LayerNorm (project=False, the shipped
    hybrid config): the hybrid's output equals a U-Net with the same conv weights."""
    torch.manual_seed(0)
    hybrid = UNetTransformer(**dict(TINY, project=project)).eval()
    unet = UNet(num_classes=3, base_channels=4, depth=2).eval()
    missing, unexpected = unet.load_state_dict(hybrid.state_dict(), strict=False)
    assert not missing and all(k.startswith("bottleneck.") for k in unexpected)
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(hybrid(x), unet(x))


def test_transformer_changes_output_once_trained():
    torch.manual_seed(0)
    model = UNetTransformer(**TINY).eval()
    x = torch.randn(1, 3, 16, 16)
    before = model(x)
    _randomise_proj_out(model)
    assert not torch.allclose(model(x), before)


def test_math_equals_sdpa():
    torch.manual_seed(0)
    m_math = UNetTransformer(**TINY, attention_impl="math")
    _randomise_proj_out(m_math)
    m_sdpa = UNetTransformer(**TINY, attention_impl="sdpa")
    m_sdpa.load_state_dict(m_math.state_dict())
    x = torch.randn(2, 3, 16, 16)
    y1, y2 = m_math(x), m_sdpa(x)
    torch.testing.assert_close(y1, y2, atol=1e-5, rtol=1e-5)
    y1.square().mean().backward()
    y2.square().mean().backward()
    for (name, p1), p2 in zip(m_math.named_parameters(), m_sdpa.parameters()):
        torch.testing.assert_close(p1.grad, p2.grad, atol=1e-5, rtol=1e-5, msg=name)


def test_grad_checkpointing_flag_reaches_the_stack_and_is_exact():
    torch.manual_seed(0)
    model = UNetTransformer(**TINY)
    _randomise_proj_out(model)
    x = torch.randn(2, 3, 16, 16)

    def run(flag: bool):
        model.zero_grad()
        model.grad_checkpointing = flag
        assert model.bottleneck.encoder.grad_checkpointing is flag
        y = model(x)
        y.square().mean().backward()
        return y.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    y0, g0 = run(False)
    y1, g1 = run(True)
    torch.testing.assert_close(y1, y0, atol=1e-6, rtol=1e-6)
    for name in g0:
        torch.testing.assert_close(g1[name], g0[name], atol=1e-6, rtol=1e-6, msg=name)
    assert g0["bottleneck.encoder.blocks.0.attn.w_q.weight"].abs().sum() > 0


def test_channels_last_matches():
    torch.manual_seed(0)
    model = UNetTransformer(**TINY).eval()
    _randomise_proj_out(model)
    x = torch.randn(2, 3, 16, 16)
    ref = model(x)
    out = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("impl", ["math", "sdpa"])
def test_bf16_autocast_runs_and_stays_close(impl):
    torch.manual_seed(0)
    model = UNetTransformer(**TINY, attention_impl=impl).eval()
    _randomise_proj_out(model)
    x = torch.randn(2, 3, 16, 16)
    ref = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.shape == ref.shape and torch.isfinite(out).all()
    # bf16 keeps 8 mantissa bits: agreement to a few percent of the logits' scale is expected.
    assert (out.float() - ref).abs().max() < 0.05 * ref.abs().max()


@pytest.mark.parametrize("pos_encoding", ["sinusoidal", "learned"])
def test_model_trained_at_64_runs_at_256(pos_encoding):
    """The position code is defined on the training grid (64 / 2**3 = 8 = pos_max_size) and
    resampled for a 256^2 image's 32x32 grid, instead of raising or using untrained rows."""
    torch.manual_seed(0)
    model = UNetTransformer(num_classes=3, base_channels=4, depth=3, embed_dim=32, num_layers=1, num_heads=4,
                            pos_encoding=pos_encoding, pos_max_size=8).eval()
    _randomise_proj_out(model)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 3, 64, 64)
        assert model(torch.randn(1, 3, 256, 256)).shape == (1, 3, 256, 256)
    code_8, code_32 = model.bottleneck.pos_enc(8, 8), model.bottleneck.pos_enc(32, 32)
    # The 32-grid code spans the same range as the 8-grid one (denser samples of one function).
    assert code_32.abs().max() <= code_8.abs().max() * 1.5 + 1e-6
