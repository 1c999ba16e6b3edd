"""Multi-head self-attention: shape, math == sdpa, parity with nn.MultiheadAttention, mask polarity."""

import math

import pytest
import torch
import torch.nn as nn

from src.models.attention import MultiHeadSelfAttention

B, N, D, HEADS = 2, 7, 16, 4


def _masks():
    torch.manual_seed(1)
    key_pad = torch.zeros(B, N, dtype=torch.bool)
    key_pad[0, -2:] = True  # the first sequence has two padding tokens
    causal = torch.triu(torch.ones(N, N, dtype=torch.bool), diagonal=1)  # True above the diagonal = masked
    return {"none": {}, "key_pad": {"key_pad_mask": key_pad}, "causal": {"attn_mask": causal},
            "both": {"attn_mask": causal, "key_pad_mask": key_pad}}


def test_shape():
    attn = MultiHeadSelfAttention(dim=D, num_heads=HEADS)
    assert attn(torch.randn(B, N, D)).shape == (B, N, D)


def test_bad_heads_error():
    with pytest.raises(ValueError, match="not divisible by num_heads=3"):
        MultiHeadSelfAttention(dim=16, num_heads=3)


@pytest.mark.parametrize("mask_name", ["none", "key_pad", "causal", "both"])
def test_math_equals_sdpa(mask_name):
    kwargs = _masks()[mask_name]
    torch.manual_seed(0)
    math_attn = MultiHeadSelfAttention(dim=D, num_heads=HEADS, impl="math")
    sdpa_attn = MultiHeadSelfAttention(dim=D, num_heads=HEADS, impl="sdpa")
    sdpa_attn.load_state_dict(math_attn.state_dict())
    x1 = torch.randn(B, N, D, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    y1, y2 = math_attn(x1, **kwargs), sdpa_attn(x2, **kwargs)
    torch.testing.assert_close(y1, y2, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(y1)
    y1.backward(g)
    y2.backward(g)
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-5, rtol=1e-5)
    for (name, p1), p2 in zip(math_attn.named_parameters(), sdpa_attn.parameters()):
        torch.testing.assert_close(p1.grad, p2.grad, atol=1e-5, rtol=1e-5, msg=name)


def _copy_to_torch_mha(ours: MultiHeadSelfAttention) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(D, HEADS, batch_first=True)
    with torch.no_grad():
        # torch stacks the three input projections as rows [q; k; v] of in_proj_weight.
        ref.in_proj_weight.copy_(torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias]))
        ref.out_proj.weight.copy_(ours.w_o.weight)
        ref.out_proj.bias.copy_(ours.w_o.bias)
    return ref


@pytest.mark.parametrize("impl", ["math", "sdpa"])
@pytest.mark.parametrize("mask_name", ["none", "key_pad", "causal", "both"])
def test_parity_with_torch_multihead_attention(impl, mask_name):
    kwargs = _masks()[mask_name]
    torch.manual_seed(0)
    ours = MultiHeadSelfAttention(dim=D, num_heads=HEADS, impl=impl)
    ref = _copy_to_torch_mha(ours)
    x1 = torch.randn(B, N, D, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    y1 = ours(x1, **kwargs)
    y2, _ = ref(x2, x2, x2, need_weights=False, attn_mask=kwargs.get("attn_mask"),
                key_padding_mask=kwargs.get("key_pad_mask"))
    torch.testing.assert_close(y1, y2, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(y1)
    y1.backward(g)
    y2.backward(g)
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-5, rtol=1e-5)
    w_grad = torch.cat([ours.w_q.weight.grad, ours.w_k.weight.grad, ours.w_v.weight.grad])
    b_grad = torch.cat([ours.w_q.bias.grad, ours.w_k.bias.grad, ours.w_v.bias.grad])
    torch.testing.assert_close(w_grad, ref.in_proj_weight.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(b_grad, ref.in_proj_bias.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.w_o.weight.grad, ref.out_proj.weight.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.w_o.bias.grad, ref.out_proj.bias.grad, atol=1e-5, rtol=1e-5)


def test_single_head_by_hand():
    """With identity projections and one head, the output is softmax(x x^T / sqrt(D)) x."""
    attn = MultiHeadSelfAttention(dim=4, num_heads=1, bias=False)
    with torch.no_grad():
        for lin in (attn.w_q, attn.w_k, attn.w_v, attn.w_o):
            lin.weight.copy_(torch.eye(4))
    x = torch.tensor([[[1.0, 0, 0, 0], [0, 2.0, 0, 0]]])  # (1, 2, 4)
    # Token 0: scores [1, 0] / 2 -> weights [e^.5, 1] / (e^.5 + 1); token 1: scores [0, 4] / 2.
    w0 = math.exp(0.5) / (math.exp(0.5) + 1)
    w1 = math.exp(2.0) / (math.exp(2.0) + 1)
    expected = torch.tensor([[[w0, 2 * (1 - w0), 0, 0], [1 - w1, 2 * w1, 0, 0]]])
    torch.testing.assert_close(attn(x), expected)


@pytest.mark.parametrize("impl", ["math", "sdpa"])
def test_padding_keys_do_not_influence_other_tokens(impl):
    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(dim=D, num_heads=HEADS, impl=impl)
    x = torch.randn(1, N, D)
    key_pad = torch.zeros(1, N, dtype=torch.bool)
    key_pad[0, -3:] = True
    y = attn(x, key_pad_mask=key_pad)
    x_changed = x.clone()
    x_changed[0, -3:] = 100.0  # garbage in the padded positions
    y_changed = attn(x_changed, key_pad_mask=key_pad)
    torch.testing.assert_close(y[:, :-3], y_changed[:, :-3])
    # ...and the same real tokens alone give the same result.
    torch.testing.assert_close(y[:, :-3], attn(x[:, :-3]), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("impl", ["math", "sdpa"])
def test_attention_dropout_only_in_training(impl):
    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(dim=D, num_heads=HEADS, attn_dropout=0.5, impl=impl)
    x = torch.randn(B, N, D)
    attn.eval()
    torch.testing.assert_close(attn(x), attn(x))
    attn.train()
    assert not torch.allclose(attn(x), attn(x))


def test_mask_type_errors():
    attn = MultiHeadSelfAttention(dim=D, num_heads=HEADS)
    with pytest.raises(TypeError, match="True = padding"):
        attn(torch.randn(B, N, D), key_pad_mask=torch.zeros(B, N))
    with pytest.raises(ValueError, match="key_pad_mask must be"):
        attn(torch.randn(B, N, D), key_pad_mask=torch.zeros(B, N + 1, dtype=torch.bool))


@pytest.mark.parametrize("impl", ["math", "sdpa"])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_qkv_equals_separate_projections(impl, bias):
    """One GEMM on [w_q; w_k; w_v] == three GEMMs: outputs and every gradient (fp32 rounding only)."""
    torch.manual_seed(0)
    fused = MultiHeadSelfAttention(dim=16, num_heads=4, bias=bias, impl=impl, fused_qkv=True)
    separate = MultiHeadSelfAttention(dim=16, num_heads=4, bias=bias, impl=impl, fused_qkv=False)
    separate.load_state_dict(fused.state_dict())  # same parameter names either way
    x = torch.randn(3, 7, 16)  # (B, N, D)
    pad = torch.zeros(3, 7, dtype=torch.bool)
    pad[1, 5:] = True
    out_f, out_s = fused(x, key_pad_mask=pad), separate(x, key_pad_mask=pad)
    torch.testing.assert_close(out_f, out_s, atol=1e-6, rtol=1e-5)
    out_f.square().sum().backward()
    out_s.square().sum().backward()
    for (name, p_f), p_s in zip(fused.named_parameters(), separate.parameters()):
        torch.testing.assert_close(p_f.grad, p_s.grad, atol=1e-5, rtol=1e-4, msg=name)


def test_softmax_stays_fp32_under_bf16_autocast():
    attn = MultiHeadSelfAttention(dim=16, num_heads=2, impl="math")
    seen = []
    attn.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    real_softmax = torch.Tensor.softmax

    def spy(self, *args, **kwargs):
        out = real_softmax(self, *args, **kwargs)
        seen.append(out.dtype)
        return out

    x = torch.randn(2, 5, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.Tensor.softmax = spy
        try:
            attn(x)
        finally:
            torch.Tensor.softmax = real_softmax
    assert seen == [torch.float32, torch.bfloat16]  # fp32 softmax, bf16 output projection
