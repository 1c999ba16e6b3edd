"""Pre-LN transformer: shapes, parity with nn.TransformerEncoderLayer(norm_first=True), checkpointing on == off."""

import pytest
import torch
import torch.nn as nn

from src.models.transformer import TransformerBlock, TransformerEncoder

B, N, D, HEADS = 2, 6, 16, 4


def test_shapes():
    x = torch.randn(B, N, D)
    assert TransformerBlock(dim=D, num_heads=HEADS)(x).shape == (B, N, D)
    enc = TransformerEncoder(num_layers=3, dim=D, num_heads=HEADS)
    assert len(enc.blocks) == 3
    assert enc(x).shape == (B, N, D)


@pytest.mark.parametrize("impl", ["math", "sdpa"])
def test_block_parity_with_torch_encoder_layer(impl):
    torch.manual_seed(0)
    ours = TransformerBlock(dim=D, num_heads=HEADS, mlp_ratio=2.0, attention_impl=impl)
    ref = nn.TransformerEncoderLayer(
        D, HEADS, dim_feedforward=2 * D, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    )
    with torch.no_grad():
        a = ours.attn
        ref.self_attn.in_proj_weight.copy_(torch.cat([a.w_q.weight, a.w_k.weight, a.w_v.weight]))
        ref.self_attn.in_proj_bias.copy_(torch.cat([a.w_q.bias, a.w_k.bias, a.w_v.bias]))
        ref.self_attn.out_proj.weight.copy_(a.w_o.weight)
        ref.self_attn.out_proj.bias.copy_(a.w_o.bias)
        ref.linear1.load_state_dict(ours.mlp.fc1.state_dict())
        ref.linear2.load_state_dict(ours.mlp.fc2.state_dict())
        ref.norm1.load_state_dict(ours.norm1.state_dict())
        ref.norm2.load_state_dict(ours.norm2.state_dict())
    key_pad = torch.zeros(B, N, dtype=torch.bool)
    key_pad[1, -2:] = True
    x1 = torch.randn(B, N, D, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    y1 = ours(x1, key_pad_mask=key_pad)
    y2 = ref(x2, src_key_padding_mask=key_pad)  # train mode: torch's reference (non-fast) path
    valid = ~key_pad  # torch's layer may zero padded query rows; compare the real tokens
    torch.testing.assert_close(y1[valid], y2[valid], atol=1e-5, rtol=1e-5)
    g = torch.randn_like(y1) * valid[..., None]
    y1.backward(g)
    y2.backward(g)
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.mlp.fc1.weight.grad, ref.linear1.weight.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.norm1.weight.grad, ref.norm1.weight.grad, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_grad_checkpointing_equals_plain(dropout):
    torch.manual_seed(0)
    enc = TransformerEncoder(num_layers=3, dim=D, num_heads=HEADS, dropout=dropout, attn_dropout=dropout)
    x = torch.randn(B, N, D)
    g = torch.randn(B, N, D)

    def run(checkpointing: bool):
        enc.zero_grad()
        enc.grad_checkpointing = checkpointing
        xi = x.clone().requires_grad_(True)
        torch.manual_seed(123)  # same dropout masks in both runs
        y = enc(xi)
        y.backward(g)
        return y.detach(), xi.grad, {n: p.grad.clone() for n, p in enc.named_parameters()}

    y0, gx0, grads0 = run(False)
    y1, gx1, grads1 = run(True)
    torch.testing.assert_close(y1, y0, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(gx1, gx0, atol=1e-6, rtol=1e-6)
    assert grads0.keys() == grads1.keys()
    for name in grads0:
        assert grads0[name].abs().sum() > 0, name  # every parameter really gets a gradient
        torch.testing.assert_close(grads1[name], grads0[name], atol=1e-6, rtol=1e-6, msg=name)


def test_checkpointing_skipped_without_grad():
    enc = TransformerEncoder(num_layers=2, dim=D, num_heads=HEADS)
    enc.grad_checkpointing = True
    with torch.no_grad():
        assert enc(torch.randn(B, N, D)).shape == (B, N, D)
