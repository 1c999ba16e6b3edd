import pytest
import torch

from src.models.encoder import Encoder


def _encoder(block, dropout=0.0, conv_norm="layer_norm", impl="math"):
    torch.manual_seed(0)
    return Encoder(
        input_dim=16, d_model=16, subsampling=4, block=block, num_layers=2, num_heads=2, ffn_dim=32,
        dropout=dropout, attention_impl=impl, conv_kernel=5, conv_norm=conv_norm,
    )


@pytest.mark.parametrize("block", ["transformer", "conformer"])
def test_shapes_and_zeroed_padding(block):
    enc = _encoder(block).eval()
    y, y_lens = enc(torch.randn(2, 40, 16), torch.tensor([40, 25]))
    assert y.shape == (2, 9, 16)
    assert y_lens.tolist() == [9, 5]
    assert torch.all(y[1, 5:] == 0)


@pytest.mark.parametrize("block,conv_norm", [("transformer", "layer_norm"), ("conformer", "layer_norm"), ("conformer", "batch_norm")])
def test_padding_never_changes_real_frames(block, conv_norm):
    enc = _encoder(block, conv_norm=conv_norm).eval()
    x = torch.randn(1, 30, 16)
    y_alone, n = enc(x, torch.tensor([30]))
    batch = torch.cat([torch.cat([x, 5 * torch.randn(1, 26, 16)], dim=1), torch.randn(1, 56, 16)])
    y_batch, lens = enc(batch, torch.tensor([30, 56]))
    assert int(lens[0]) == int(n)
    torch.testing.assert_close(y_batch[:1, : int(n)], y_alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("block", ["transformer", "conformer"])
def test_sdpa_equals_math(block):
    a, b = _encoder(block, impl="math").eval(), _encoder(block, impl="sdpa").eval()
    x, lens = torch.randn(2, 40, 16), torch.tensor([40, 21])
    torch.testing.assert_close(a(x, lens)[0], b(x, lens)[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("block", ["transformer", "conformer"])
def test_grad_checkpointing_same_outputs_and_grads(block):
    enc = _encoder(block, dropout=0.1).train()  # dropout on: the RNG replay must match too
    x, lens = torch.randn(2, 40, 16), torch.tensor([40, 30])

    def run(flag):
        enc.grad_checkpointing = flag
        enc.zero_grad()
        torch.manual_seed(123)
        y, _ = enc(x, lens)
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        return y.detach(), {n: p.grad.clone() for n, p in enc.named_parameters()}

    y_off, g_off = run(False)
    y_on, g_on = run(True)
    torch.testing.assert_close(y_on, y_off)
    assert g_on.keys() == g_off.keys()
    for name in g_off:
        torch.testing.assert_close(g_on[name], g_off[name], msg=f"gradient of {name} differs")
