import torch

from src.models.ar_decoder import ARDecoder
from src.models.decoder import NARDecoder

V, D = 11, 16


def _nar():
    torch.manual_seed(0)
    return NARDecoder(vocab_size=V, d_model=D, num_layers=2, num_heads=2, ffn_dim=32, dropout=0.0).eval()


def _ar():
    torch.manual_seed(0)
    return ARDecoder(vocab_size=V, d_model=D, num_layers=2, num_heads=2, ffn_dim=32, dropout=0.0).eval()


def test_nar_shapes():
    logits, lens = _nar()(torch.randn(2, 5, D), torch.tensor([5, 3]), torch.randn(2, 9, D), torch.tensor([9, 6]))
    assert logits.shape == (2, 5, V) and lens.tolist() == [5, 3]


def test_nar_padding_never_changes_real_tokens():
    dec = _nar()
    x, mem = torch.randn(1, 3, D), torch.randn(1, 6, D)
    alone, _ = dec(x, torch.tensor([3]), mem, torch.tensor([6]))
    xb = torch.cat([torch.cat([x, 9 * torch.randn(1, 2, D)], 1), torch.randn(1, 5, D)])
    mb = torch.cat([torch.cat([mem, 9 * torch.randn(1, 3, D)], 1), torch.randn(1, 9, D)])
    batch, _ = dec(xb, torch.tensor([3, 5]), mb, torch.tensor([6, 9]))
    torch.testing.assert_close(batch[:1, :3], alone, atol=1e-5, rtol=1e-5)


def test_ar_shapes_and_causality():
    dec = _ar()
    mem, mem_lens = torch.randn(2, 9, D), torch.tensor([9, 6])
    tokens = torch.tensor([[1, 3, 4, 5], [1, 6, 0, 0]])
    logits, _ = dec(tokens, torch.tensor([4, 2]), mem, mem_lens)
    assert logits.shape == (2, 4, V)
    changed = tokens.clone()
    changed[0, 3] = 7  # a future token must not change earlier positions
    logits2, _ = dec(changed, torch.tensor([4, 2]), mem, mem_lens)
    torch.testing.assert_close(logits2[0, :3], logits[0, :3])


def test_ar_cached_steps_equal_full_forward():
    dec = _ar()
    mem, mem_lens = torch.randn(2, 9, D), torch.tensor([9, 6])
    tokens = torch.tensor([[1, 3, 4, 5, 8], [1, 6, 2, 9, 3]])
    full, _ = dec(tokens, torch.tensor([5, 5]), mem, mem_lens)
    state = dec.init_state(mem, mem_lens)
    for i in range(tokens.size(1)):
        log_probs, state = dec.step(tokens[:, i], state)
        torch.testing.assert_close(log_probs, torch.log_softmax(full[:, i], -1), atol=1e-5, rtol=1e-5)
    # Reordering rows (beam search) keeps each row's cache with it.
    swapped = state.select(torch.tensor([1, 0]))
    lp_swapped, _ = dec.step(torch.tensor([4, 4]), swapped)
    lp, _ = dec.step(torch.tensor([4, 4]), state)
    torch.testing.assert_close(lp_swapped, lp.flip(0))
