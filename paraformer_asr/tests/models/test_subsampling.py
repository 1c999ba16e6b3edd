import pytest
import torch

from src.models.positional_encoding import PositionalEncoding
from src.models.subsampling import Conv2dSubsampling, min_input_frames, receptive_field, subsampled_length


@pytest.mark.parametrize("ratio,t_in,t_out", [(2, 20, 9), (4, 20, 4), (4, 7, 1), (8, 40, 4), (4, 100, 24)])
def test_length_formula(ratio, t_in, t_out):
    # x4 by hand: T=20 -> floor(19/2)=9 -> floor(8/2)=4; T=100 -> 49 -> 24.
    assert subsampled_length(t_in, ratio) == t_out
    sub = Conv2dSubsampling(input_dim=16, d_model=8, ratio=ratio)
    y, y_lens = sub(torch.randn(2, t_in, 16), torch.tensor([t_in, t_in]))
    assert y.shape == (2, t_out, 8)
    assert y_lens.tolist() == [t_out, t_out]


def test_padding_does_not_change_real_frames():
    torch.manual_seed(0)
    sub = Conv2dSubsampling(input_dim=16, d_model=8, ratio=4)
    x = torch.randn(1, 23, 16)
    y_alone, len_alone = sub(x, torch.tensor([23]))
    padded = torch.cat([x, torch.randn(1, 17, 16)], dim=1)
    y_pad, len_pad = sub(padded, torch.tensor([23]))
    assert int(len_pad) == int(len_alone) == y_alone.size(1)
    torch.testing.assert_close(y_pad[:, : int(len_pad)], y_alone, atol=1e-5, rtol=1e-5)


def test_too_short_input_is_rejected():
    with pytest.raises(ValueError, match="utterance 0 of the batch has 6 frames, too few for subsampling x4"):
        Conv2dSubsampling(input_dim=16, d_model=8, ratio=4)(torch.randn(1, 6, 16), torch.tensor([6]))


@pytest.mark.parametrize("ratio", [2, 4, 8])
def test_short_lengths_are_never_negative(ratio):
    """Before: T = 1 or 2 gave T' = -1 at x4 (floor((T - 1) / 2) applied to T' = 0)."""
    lens = torch.arange(0, 20)
    out = subsampled_length(lens, ratio)
    assert torch.all(out >= 0) and out.tolist() == [subsampled_length(int(t), ratio) for t in lens]
    # A length gives an encoder frame exactly from min_input_frames on.
    assert ((out > 0) == (lens >= min_input_frames(ratio))).all()


def test_one_short_utterance_in_a_long_batch_is_refused():
    """The batch maximum is long enough; utterance 1 (2 frames) alone is not: named in the error."""
    sub = Conv2dSubsampling(input_dim=16, d_model=8, ratio=4)
    with pytest.raises(ValueError, match="utterance 1 of the batch has 2 frames.*at least 7 frames"):
        sub(torch.randn(3, 30, 16), torch.tensor([30, 2, 12]))


def test_positional_encoding_values_and_offset():
    pe = PositionalEncoding(dim=4, xscale=1.0, max_len=4)
    out = pe(torch.zeros(1, 3, 4))
    # Position 1: sin(1), cos(1), sin(1/100), cos(1/100) (inv freq 10000^(-2/4) = 1/100).
    expected = torch.tensor([torch.sin(torch.tensor(1.0)), torch.cos(torch.tensor(1.0)), torch.sin(torch.tensor(0.01)), torch.cos(torch.tensor(0.01))])
    torch.testing.assert_close(out[0, 1], expected)
    # An offset continues the table (and grows it past max_len).
    torch.testing.assert_close(pe(torch.zeros(1, 2, 4), offset=1)[0, 0], expected)
    assert pe(torch.zeros(1, 3, 4), offset=5).shape == (1, 3, 4)


def test_narrow_channels_keep_the_contract():
    sub = Conv2dSubsampling(input_dim=16, d_model=8, ratio=4, channels=3)
    y, y_lens = sub(torch.randn(2, 20, 16), torch.tensor([20, 11]))
    assert y.shape == (2, 4, 8) and y_lens.tolist() == [4, 2]
    assert sub.conv[2].weight.shape == (3, 3, 3, 3)  # second conv: C -> C
    assert sub.out.in_features == 3 * 3  # C * F' with F' = floor((floor(15/2) - 1) / 2) = 3


@pytest.mark.parametrize("ratio", [2, 4, 8])
def test_receptive_field_is_measured(ratio):
    """Which input frames can change encoder frame t': exactly receptive_field(t', ratio) (x4: 4t' .. 4t' + 6)."""
    torch.manual_seed(0)
    sub = Conv2dSubsampling(input_dim=16, d_model=8, ratio=ratio)
    t_in = 6 * ratio + 2 * ratio
    x = torch.randn(1, t_in, 16, requires_grad=True)
    y, _ = sub(x, torch.tensor([t_in]))
    for t in range(y.size(1)):
        (grad,) = torch.autograd.grad(y[0, t].sum(), x, retain_graph=True)
        reads = grad[0].abs().sum(-1).nonzero().flatten()  # input frames with an influence
        assert (int(reads.min()), int(reads.max())) == receptive_field(t, ratio)


def _reference_features(sub: Conv2dSubsampling, x: torch.Tensor) -> torch.Tensor:
    """The textbook front end: nn.Conv2d / ReLU stages on (B, 1, T, F), flattened (C, F') per frame."""
    y = sub.conv(x.unsqueeze(1))  # (B, C, T', F')
    b, c, t, f = y.shape
    return y.transpose(1, 2).reshape(b, t, c * f)


@pytest.mark.parametrize("ratio,t_in,f_in", [(2, 9, 10), (4, 23, 16), (4, 40, 17), (8, 41, 24)])
def test_channels_last_front_end_equals_the_conv2d_stack(ratio, t_in, f_in):
    """The tap-matmul first stage, channels-last stages and the late ReLU compute nn.Sequential(Conv2d, ReLU, ...):
    values and every gradient (input, weights, biases), at odd and even sizes."""
    torch.manual_seed(0)
    sub = Conv2dSubsampling(input_dim=f_in, d_model=8, ratio=ratio, channels=5).double()
    x = torch.randn(3, t_in, f_in, dtype=torch.float64, requires_grad=True)
    probe = torch.randn(3, subsampled_length(t_in, ratio), sub.out.in_features, dtype=torch.float64)

    grads = []
    for features in (sub._features, lambda inp: _reference_features(sub, inp)):
        y = features(x)
        grads.append((y, *torch.autograd.grad((y * probe).sum(), [x, *sub.conv.parameters()])))
    ours, ref = grads
    assert ours[0].shape == ref[0].shape == probe.shape
    assert (ref[0] == 0).any() and (ref[0] > 0).any()  # the ReLUs are active both ways
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_channels_last_front_end_under_bf16_autocast():
    """Under CPU bf16 autocast, ours and the Conv2d stack round the same products to bf16 (oneDNN's conv
    and our tap matmul both take bf16 inputs, accumulate in fp32): equal within a few bf16 ulps of the
    output scale, against an fp32 reference for both."""
    torch.manual_seed(0)
    sub = Conv2dSubsampling(input_dim=80, d_model=16, ratio=4, channels=8)
    x = torch.randn(2, 60, 80)
    fp32 = _reference_features(sub, x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours, ref = sub._features(x).float(), _reference_features(sub, x).float()
    scale = fp32.abs().max()
    err_ours, err_ref = (ours - fp32).abs().max() / scale, (ref - fp32).abs().max() / scale
    # bf16 keeps 8 significant bits (ulp 2^-8 relative); two rounded stages: a few ulps.
    assert err_ours < 4 * 2**-8 and err_ref < 4 * 2**-8
