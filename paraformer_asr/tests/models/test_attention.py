import pytest
import torch
from torch import nn

from src.models.attention import MultiHeadAttention
from src.utils.masks import make_pad_mask


def _pair(dim=16, heads=4):
    torch.manual_seed(0)
    a = MultiHeadAttention(dim=dim, num_heads=heads, impl="math").eval()
    b = MultiHeadAttention(dim=dim, num_heads=heads, impl="sdpa").eval()
    b.load_state_dict(a.state_dict())
    return a, b


def test_shapes_self_and_cross():
    attn = MultiHeadAttention(dim=16, num_heads=4)
    q, kv = torch.randn(2, 5, 16), torch.randn(2, 9, 16)
    assert attn(q, q, q).shape == (2, 5, 16)
    assert attn(q, kv, kv, key_pad_mask=make_pad_mask(torch.tensor([9, 4]), 9)).shape == (2, 5, 16)


@pytest.mark.parametrize("causal", [False, True])
def test_math_equals_sdpa_with_padding(causal):
    math_attn, sdpa_attn = _pair()
    x = torch.randn(3, 7, 16)
    pad_mask = make_pad_mask(torch.tensor([7, 5, 2]), 7)
    out_m = math_attn(x, x, x, key_pad_mask=pad_mask, causal=causal)
    out_s = sdpa_attn(x, x, x, key_pad_mask=pad_mask, causal=causal)
    torch.testing.assert_close(out_m, out_s, atol=1e-5, rtol=1e-5)


def test_padding_keys_are_ignored():
    attn, _ = _pair()
    x = torch.randn(1, 4, 16)
    padded = torch.cat([x, 100 * torch.randn(1, 3, 16)], dim=1)  # huge garbage in the padding
    out_pad = attn(padded, padded, padded, key_pad_mask=make_pad_mask(torch.tensor([4]), 7))
    torch.testing.assert_close(out_pad[:, :4], attn(x, x, x), atol=1e-5, rtol=1e-5)


def test_causal_ignores_future():
    attn, _ = _pair()
    x = torch.randn(1, 6, 16)
    y = x.clone()
    y[:, 4:] = torch.randn(1, 2, 16)
    torch.testing.assert_close(attn(x, x, x, causal=True)[:, :4], attn(y, y, y, causal=True)[:, :4])


@pytest.mark.parametrize("causal", [False, True])
def test_parity_with_nn_multihead_attention(causal):
    torch.manual_seed(1)
    dim, heads = 16, 4
    ours = MultiHeadAttention(dim=dim, num_heads=heads)
    ref = nn.MultiheadAttention(dim, heads, batch_first=True)
    with torch.no_grad():
        w_q, w_k, w_v = ref.in_proj_weight.chunk(3)
        b_q, b_k, b_v = ref.in_proj_bias.chunk(3)
        for lin, w, b in [(ours.w_q, w_q, b_q), (ours.w_k, w_k, b_k), (ours.w_v, w_v, b_v), (ours.w_o, ref.out_proj.weight, ref.out_proj.bias)]:
            lin.weight.copy_(w)
            lin.bias.copy_(b)
    q = torch.randn(2, 5, dim, requires_grad=True)
    kv = torch.randn(2, 5, dim, requires_grad=True)
    pad_mask = make_pad_mask(torch.tensor([5, 3]), 5)
    causal_mask = torch.ones(5, 5, dtype=torch.bool).triu(1) if causal else None
    out_ref, _ = ref(q, kv, kv, key_padding_mask=pad_mask, attn_mask=causal_mask, need_weights=False)
    out = ours(q, kv, kv, key_pad_mask=pad_mask, causal=causal)
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)

    g = torch.randn_like(out)
    grads_ref = torch.autograd.grad(out_ref, [q, kv, ref.in_proj_weight, ref.out_proj.weight], g)
    grads = torch.autograd.grad(out, [q, kv, ours.w_q.weight, ours.w_k.weight, ours.w_v.weight, ours.w_o.weight], g)
    torch.testing.assert_close(grads[0], grads_ref[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grads[1], grads_ref[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.cat(grads[2:5]), grads_ref[2], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grads[5], grads_ref[3], atol=1e-5, rtol=1e-5)
