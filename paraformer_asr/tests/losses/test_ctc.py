import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from src.losses.ctc import ctc_loss, ctc_nll


def _random_case(seed, b=4, t=12, v=6, l=5):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, t, v, generator=g, dtype=torch.float64)
    targets = torch.randint(1, v, (b, l), generator=g)
    targets[0, 1] = targets[0, 0]  # a repeated label: needs the blank between, no skip
    targets[0, 3] = targets[0, 2]
    input_lens = torch.tensor([t, t - 3, t - 1, 7])[:b]
    target_lens = torch.tensor([l, 3, 1, 0])[:b]
    targets = targets.masked_fill(torch.arange(l) >= target_lens.unsqueeze(1), 0)  # padded with 0 (blank)
    return logits, targets, input_lens, target_lens


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_parity_with_torch_values_and_grads(seed, reduction):
    logits, targets, input_lens, target_lens = _random_case(seed)
    results = []
    for impl in ("ours", "torch"):
        x = logits.clone().requires_grad_(True)
        loss = ctc_loss(torch.log_softmax(x, -1), targets, input_lens, target_lens, reduction=reduction, impl=impl, zero_infinity=False)
        (loss * torch.linspace(0.5, 1.5, loss.numel()).view_as(loss).double()).sum().backward()
        results.append((loss.detach(), x.grad))
    (ours, g_ours), (ref, g_ref) = results
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-6)
    torch.testing.assert_close(g_ours, g_ref, atol=1e-4, rtol=1e-6)


def test_parity_float32_with_gradient():
    logits, targets, input_lens, target_lens = _random_case(5, b=3, t=20, v=8, l=6)
    x1 = logits.float().requires_grad_(True)
    x2 = logits.float().requires_grad_(True)
    ours = ctc_loss(torch.log_softmax(x1, -1), targets, input_lens, target_lens, impl="ours")
    ref = F.ctc_loss(torch.log_softmax(x2, -1).transpose(0, 1), targets, input_lens, target_lens, zero_infinity=True)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-4, rtol=1e-4)


def test_matches_brute_force_sum_over_alignments():
    # p(y|x) = sum over all frame paths that collapse to y; enumerate V^T paths for a tiny case.
    torch.manual_seed(0)
    t, v = 4, 3
    log_probs = torch.log_softmax(torch.randn(1, t, v, dtype=torch.float64), -1)
    for y in ([1], [1, 1], [1, 2], [2, 1, 2]):
        total = 0.0
        for path in itertools.product(range(v), repeat=t):
            collapsed = [c for i, c in enumerate(path) if c != 0 and (i == 0 or c != path[i - 1])]
            if collapsed == y:
                total += math.exp(sum(float(log_probs[0, i, c]) for i, c in enumerate(path)))
        nll = ctc_nll(log_probs, torch.tensor([y]), torch.tensor([t]), torch.tensor([len(y)]))
        assert float(nll) == pytest.approx(-math.log(total), rel=1e-9)


def test_impossible_alignment_is_inf_or_zeroed():
    # "aa" needs 3 frames (a, blank, a); 2 frames cannot produce it.
    log_probs = torch.log_softmax(torch.randn(1, 2, 3), -1)
    args = (log_probs, torch.tensor([[1, 1]]), torch.tensor([2]), torch.tensor([2]))
    assert math.isinf(float(ctc_loss(*args, reduction="none", zero_infinity=False)))
    assert float(ctc_loss(*args, reduction="none", zero_infinity=True)) == 0.0
    assert math.isinf(float(F.ctc_loss(log_probs.transpose(0, 1), *args[1:], reduction="none")))


def _parity(log_probs, targets, input_lens, target_lens, zero_infinity):
    """Per-utterance losses and gradients of ours and F.ctc_loss (float64)."""
    results = []
    for impl in ("ours", "torch"):
        x = log_probs.clone().requires_grad_(True)
        loss = ctc_loss(torch.log_softmax(x, -1), targets, input_lens, target_lens, reduction="none", impl=impl,
                        zero_infinity=zero_infinity)
        loss.masked_fill(torch.isinf(loss), 0.0).sum().backward()
        results.append((loss.detach(), x.grad))
    (ours, g_ours), (ref, g_ref) = results
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=1e-6)
    # Gradients where the loss is finite (F.ctc_loss's gradient of an inf row is NaN unless zero_infinity).
    finite = torch.isfinite(ref)
    torch.testing.assert_close(g_ours[finite], g_ref[finite], atol=1e-6, rtol=1e-6)
    if zero_infinity:
        torch.testing.assert_close(g_ours, g_ref, atol=1e-6, rtol=1e-6)
    return ours


@pytest.mark.parametrize("zero_infinity", [False, True])
def test_parity_on_zero_input_frames(zero_infinity):
    """T_b = 0: F.ctc_loss gives 0 for an empty target and inf otherwise (before, ours was finite for L_b = 1)."""
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(4, 6, 5, generator=g, dtype=torch.float64)
    targets = torch.tensor([[2, 0], [3, 4], [0, 0], [1, 2]])
    ours = _parity(logits, targets, torch.tensor([0, 0, 0, 6]), torch.tensor([1, 2, 0, 2]), zero_infinity)
    assert ours[2] == 0 and torch.isfinite(ours[3])
    assert torch.isinf(ours[:2]).all() != zero_infinity


def test_parity_when_every_target_is_empty():
    """L = 0 for the whole batch (one extended state): before, a shape error."""
    g = torch.Generator().manual_seed(8)
    logits = torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    ours = _parity(logits, torch.zeros(3, 0, dtype=torch.long), torch.tensor([5, 2, 1]), torch.zeros(3, dtype=torch.long), False)
    expected = -torch.log_softmax(logits, -1)[..., 0]  # all blanks: -sum_t log p_t(blank)
    torch.testing.assert_close(ours, torch.stack([expected[0].sum(), expected[1, :2].sum(), expected[2, :1].sum()]))


@pytest.mark.parametrize("zero_infinity", [False, True])
def test_parity_on_too_short_and_single_frame_inputs(zero_infinity):
    g = torch.Generator().manual_seed(9)
    logits = torch.randn(4, 3, 5, generator=g, dtype=torch.float64)
    targets = torch.tensor([[2, 2, 0], [1, 2, 3], [3, 0, 0], [4, 4, 0]])
    # T < L; T = L exactly; one frame and one label; a repeat that needs 3 frames in 3.
    _parity(logits, targets, torch.tensor([2, 3, 1, 3]), torch.tensor([3, 3, 1, 2]), zero_infinity)
