import pytest
import torch

from src.models.cif_predictor import CifPredictor, integrate_and_fire, integrate_and_fire_parallel

IMPLS = pytest.mark.parametrize("fire", [integrate_and_fire, integrate_and_fire_parallel], ids=["loop", "parallel"])


def _hidden(t, d=2):
    # h_t = [t + 1, 10 (t + 1)]: distinct frames, easy sums.
    base = torch.arange(1, t + 1, dtype=torch.float32)
    return torch.stack([base, 10 * base], dim=1).unsqueeze(0)  # (1, T', 2)


@IMPLS
def test_hand_worked_integrate_and_fire(fire):
    # alphas (dyadic, so exact in float): .25 .5 .5 .75 .25 .75, threshold 1.
    # t0: acc .25                 t1: acc .75
    # t2: .75 + .5 = 1.25 >= 1 -> take .25: e1 = .25 h0 + .5 h1 + .25 h2, fires at frame 2; carry .25 h2
    # t3: .25 + .75 = 1.0 >= 1 -> take .75: e2 = .25 h2 + .75 h3, fires at frame 3; carry 0
    # t4: acc .25                 t5: .25 + .75 = 1.0 -> e3 = .25 h4 + .75 h5, fires at frame 5
    # with h_t = (t+1) * [1, 10]: e1 = (.25 + 1 + .75) = 2, e2 = .75 + 3 = 3.75, e3 = 1.25 + 4.5 = 5.75
    alphas = torch.tensor([[0.25, 0.5, 0.5, 0.75, 0.25, 0.75]])
    embeds, counts, frames = fire(_hidden(6), alphas, threshold=1.0, tail_threshold=0.45)
    assert counts.tolist() == [3]
    assert frames.tolist() == [[2, 3, 5]]
    torch.testing.assert_close(embeds, torch.tensor([[[2.0, 20.0], [3.75, 37.5], [5.75, 57.5]]]))


@IMPLS
def test_tail_fires_only_above_tail_threshold(fire):
    # .5 .75 .25: t1 fires e1 = .5 h0 + .5 h1 = .5 + 1 = 1.5; leftover .25 h1 + .25 h2 = .5 + .75 = 1.25, weight .5.
    alphas = torch.tensor([[0.5, 0.75, 0.25]])
    embeds, counts, frames = fire(_hidden(3), alphas, tail_threshold=0.6)  # .5 + .6 >= 1: fires
    assert counts.tolist() == [2] and frames.tolist() == [[1, 2]]
    torch.testing.assert_close(embeds[0, :, 0], torch.tensor([1.5, 1.25]))
    _, counts, frames = fire(_hidden(3), alphas, tail_threshold=0.45)  # .5 + .45 < 1: FunASR does not fire
    assert counts.tolist() == [1] and frames.tolist() == [[1]]


@IMPLS
@pytest.mark.parametrize("leftover, tail, fires", [(0.5, 0.5, True), (0.5, 0.4375, False), (0.5625, 0.4375, True),
                                                   (0.5, 0.45, False), (0.546875, 0.45, False), (0.5625, 0.45, True)])
def test_tail_rule_is_funasrs_at_the_boundary(fire, leftover, tail, fires):
    """FunASR appends a frame of weight tail_threshold and floors: the tail fires iff leftover + tail >= beta.

    Dyadic leftovers are exact in float, so leftover + tail == beta is tested exactly (first and third rows).
    """
    alphas = torch.tensor([[0.75, 0.25 + leftover]], dtype=torch.float64)  # one full token, then the leftover
    _, counts, _ = fire(_hidden(2).double(), alphas, tail_threshold=tail)
    assert counts.tolist() == [1 + int(fires)]


@IMPLS
def test_count_is_funasrs_floor_of_sum_plus_tail(fire):
    torch.manual_seed(5)
    alphas = torch.rand(64, 9, dtype=torch.float64) * 0.9  # < 1 per frame: no frame fires twice
    _, counts, _ = fire(torch.randn(64, 9, 3, dtype=torch.float64), alphas, tail_threshold=0.45)
    assert counts.tolist() == torch.floor(alphas.sum(1) + 0.45).long().tolist()


@IMPLS
def test_one_frame_can_fire_twice(fire):
    # Scaled alphas may exceed 1: 1.5 .5 -> t0 fires e1 = 1.0 h0 = 1; carry .5 h0; t1: e2 = .5 h0 + .5 h1 = 1.5.
    embeds, counts, frames = fire(_hidden(2), torch.tensor([[1.5, 0.5]]), tail_threshold=0.45)
    assert counts.tolist() == [2] and frames.tolist() == [[0, 1]]
    torch.testing.assert_close(embeds[0, :, 0], torch.tensor([1.0, 1.5]))


@IMPLS
def test_batch_padding_and_tail_frame(fire):
    # Utterance 2 has 2 valid frames; its tail token fires at its own last frame (1), padding stays -1.
    hidden = torch.cat([_hidden(3), _hidden(3)])
    alphas = torch.tensor([[0.5, 0.75, 0.25], [0.75, 0.0, 0.0]])
    embeds, counts, frames = fire(hidden, alphas, lengths=torch.tensor([3, 2]), tail_threshold=0.5)
    assert counts.tolist() == [2, 1]
    assert frames.tolist() == [[1, 2], [1, -1]]
    assert embeds.shape == (2, 2, 2) and torch.all(embeds[1, 1] == 0)
    torch.testing.assert_close(embeds[1, 0, 0], torch.tensor(0.75))


def _predictor(impl="parallel"):
    torch.manual_seed(0)
    return CifPredictor(d_model=8, conv_kernel=3, dropout=0.0, impl=impl).eval()


@pytest.mark.parametrize("impl", ["loop", "parallel"])
def test_scaled_alphas_give_exactly_target_count(impl):
    pred = _predictor(impl)
    torch.manual_seed(1)
    for _ in range(20):
        lens = torch.randint(3, 30, (4,))
        hidden = torch.randn(4, 30, 8)
        targets = (lens.float() * torch.rand(4)).long().clamp(min=1)  # up to one token per frame
        out = pred(hidden, lens, target_lens=targets)
        assert out.token_lens.tolist() == targets.tolist()
        torch.testing.assert_close(out.alphas.sum(1), targets.float(), atol=1e-4, rtol=0)
        assert out.acoustic_embeds.shape == (4, int(targets.max()), 8)
        assert torch.all((out.fire_frames >= 0).sum(1) == targets)


def test_predictor_shapes_and_padding_invariance():
    pred = _predictor()
    hidden = torch.randn(1, 12, 8)
    alone = pred(hidden, torch.tensor([12]))
    batch = pred(torch.cat([torch.cat([hidden, torch.randn(1, 5, 8)], 1), torch.randn(1, 17, 8)]), torch.tensor([12, 17]))
    assert torch.all(batch.alphas[0, 12:] == 0)
    torch.testing.assert_close(batch.alphas[0, :12], alone.alphas[0], atol=1e-6, rtol=1e-5)
    n = int(alone.token_lens[0])
    assert int(batch.token_lens[0]) == n
    torch.testing.assert_close(batch.acoustic_embeds[0, :n], alone.acoustic_embeds[0], atol=1e-5, rtol=1e-5)
    assert batch.fire_frames[0, :n].tolist() == alone.fire_frames[0].tolist()
    torch.testing.assert_close(alone.alpha_sum, alone.alphas.sum(1))


def test_gradients_flow_to_alphas_and_hidden():
    pred = CifPredictor(d_model=8, dropout=0.0).train()
    hidden = torch.randn(2, 10, 8, requires_grad=True)
    out = pred(hidden, torch.tensor([10, 7]), target_lens=torch.tensor([4, 3]))
    out.acoustic_embeds.pow(2).sum().backward()
    assert hidden.grad.abs().sum() > 0
    assert pred.linear.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("tail", [0.45, 0.5])
def test_parallel_equals_loop_values_frames_and_grads(tail):
    torch.manual_seed(2)
    lengths = torch.tensor([17, 9, 12, 1])
    hidden = torch.randn(4, 17, 5, dtype=torch.float64)
    raw = torch.rand(4, 17, dtype=torch.float64) * 1.6  # some frames > 1: multiple fires per frame
    raw = raw * (torch.arange(17) < lengths.unsqueeze(1))
    results = []
    for fire in (integrate_and_fire, integrate_and_fire_parallel):
        h, a = hidden.clone().requires_grad_(True), raw.clone().requires_grad_(True)
        embeds, counts, frames = fire(h, a, threshold=1.0, tail_threshold=tail, lengths=lengths)
        (embeds * torch.linspace(-1, 1, embeds.numel(), dtype=embeds.dtype).view_as(embeds)).sum().backward()
        results.append((embeds.detach(), counts, frames, h.grad, a.grad))
    for got, ref, what in zip(results[1], results[0], ["embeds", "counts", "frames", "d hidden", "d alphas"]):
        torch.testing.assert_close(got, ref, msg=f"{what} differ between parallel and loop CIF")
    assert int(results[0][1].max()) > 5  # the case really fires many tokens


def test_predictor_impls_agree_in_training_mode():
    hidden, lens = torch.randn(3, 20, 8), torch.tensor([20, 14, 7])
    targets = torch.tensor([9, 14, 2])
    loop = _predictor("loop")(hidden, lens, target_lens=targets)
    par = _predictor("parallel")(hidden, lens, target_lens=targets)
    assert loop.token_lens.tolist() == par.token_lens.tolist() == targets.tolist()
    torch.testing.assert_close(par.acoustic_embeds, loop.acoustic_embeds, atol=1e-5, rtol=1e-5)
    assert par.fire_frames.tolist() == loop.fire_frames.tolist()


@pytest.mark.parametrize("impl", ["loop", "parallel"])
@pytest.mark.parametrize("beta", [0.8, 1.0, 1.2])
def test_threshold_beta_gives_exactly_target_count_in_training(impl, beta):
    """alpha is scaled to sum L beta, so CIF (firing every beta) fills all L positions (before: floor(L / beta))."""
    torch.manual_seed(0)
    pred = CifPredictor(d_model=8, conv_kernel=3, dropout=0.0, impl=impl, threshold=beta).eval()
    hidden, lens, targets = torch.randn(2, 30, 8), torch.tensor([30, 24]), torch.tensor([10, 7])
    out = pred(hidden, lens, target_lens=targets)
    assert out.token_lens.tolist() == [10, 7]
    torch.testing.assert_close(out.alphas.sum(1), beta * targets.float(), atol=1e-4, rtol=0)
    assert torch.all((out.fire_frames >= 0).sum(1) == targets)
    filled = out.acoustic_embeds.abs().sum(-1) > 0  # (B, L)
    assert filled[0].all() and filled[1, :7].all() and not filled[1, 7:].any()
    torch.testing.assert_close(out.predicted_count, out.alpha_sum / beta)
    # Inference counts the same way: unscaled alphas scaled by hand to sum k beta fire k times.
    alphas = pred.compute_alphas(hidden, lens)  # (B, T')
    scaled = alphas * (torch.tensor([6.0, 4.0]) * beta / alphas.sum(1)).unsqueeze(1)
    _, counts, _ = pred.integrate(hidden, scaled, threshold=beta, tail_threshold=0.45 * beta, lengths=lens)
    assert counts.tolist() == [6, 4]


def test_threshold_and_tail_are_checked():
    with pytest.raises(ValueError, match="predictor.tail_threshold=1.5"):
        CifPredictor(d_model=8, threshold=1.0, tail_threshold=1.5)
    with pytest.raises(ValueError, match="predictor.threshold=0"):
        CifPredictor(d_model=8, threshold=0.0)
