"""Overfit one batch: a tiny model must memorise two toy utterances exactly (a few seconds each)."""

import pytest
import torch

from tests.models.tiny import overfit_one_batch, tiny_model, toy_batch


@pytest.fixture
def one_thread():
    # Tiny tensors: extra threads only add contention on a shared CPU.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", ["paraformer", "ctc", "transformer_ar"])
def test_overfit_one_batch(name, one_thread):
    model = tiny_model(name, seed=0, ctc_weight=0.3, label_smoothing=0.0)
    b = toy_batch()
    first, out = overfit_one_batch(model, b)
    final = out["loss"].item()
    assert final < 0.1 and final < 0.05 * first, f"loss went {first:.3f} -> {final:.3f}"
    for method in ("greedy", "beam"):
        hyps = model.decode(b["feats"], b["feat_lens"], method=method, beam_size=3)
        assert [h.tokens for h in hyps] == b["seqs"], method
