"""decode methods ctc_greedy / ctc_beam: the CTC head alone, for every model that has one."""

from __future__ import annotations

import pytest
import torch

from src.decode.ctc_prefix_beam import ctc_prefix_beam_search
from src.decode.greedy import ctc_greedy_search
from src.decode.methods import DECODE_METHODS, check_decode_method
from tests.models.tiny import tiny_model, toy_batch


def _head_log_probs(model, feats, feat_lens):
    """The CTC head's log-probs, computed here from the encoder as the models' forward does."""
    enc, enc_lens = model.encoder(feats, feat_lens)  # (B, T', D)
    return torch.log_softmax(model.ctc_head(enc).float(), dim=-1), enc_lens  # (B, T', V)


@pytest.mark.parametrize("name", ["paraformer", "transformer_ar", "ctc"])
def test_ctc_methods_decode_the_ctc_head(name):
    torch.manual_seed(0)
    model = tiny_model(name, ctc_weight=0.3).eval()
    batch = toy_batch()
    feats, lens = batch["feats"], batch["feat_lens"]
    with torch.no_grad():
        lp, enc_lens = _head_log_probs(model, feats, lens)
        greedy = model.decode(feats, lens, method="ctc_greedy")
        beam = model.decode(feats, lens, method="ctc_beam", beam_size=3)
    ref_greedy = ctc_greedy_search(lp, enc_lens)
    ref_beam = [ctc_prefix_beam_search(lp[b, : int(enc_lens[b])], beam_size=3)[0] for b in range(lp.size(0))]
    assert [h.tokens for h in greedy] == [h.tokens for h in ref_greedy]
    assert [h.token_frames for h in greedy] == [h.token_frames for h in ref_greedy]
    assert [h.score for h in greedy] == pytest.approx([h.score for h in ref_greedy])
    assert [h.tokens for h in beam] == [h.tokens for h in ref_beam]
    assert [h.score for h in beam] == pytest.approx([h.score for h in ref_beam])
    assert any(h.tokens for h in greedy)  # an untrained head still emits something, or equality proves little


def test_for_the_ctc_model_the_ctc_methods_are_greedy_and_beam():
    model = tiny_model("ctc").eval()
    batch = toy_batch()
    with torch.no_grad():
        for own, ctc in (("greedy", "ctc_greedy"), ("beam", "ctc_beam")):
            a = model.decode(batch["feats"], batch["feat_lens"], method=own, beam_size=3)
            b = model.decode(batch["feats"], batch["feat_lens"], method=ctc, beam_size=3)
            assert [h.tokens for h in a] == [h.tokens for h in b]


def test_the_paraformer_ctc_decode_differs_from_its_decoder():
    # Not an alias of greedy: an untrained Paraformer's NAR decoder and CTC head disagree.
    model = tiny_model("paraformer", seed=1).eval()
    batch = toy_batch()
    with torch.no_grad():
        nar = model.decode(batch["feats"], batch["feat_lens"], method="greedy")
        ctc = model.decode(batch["feats"], batch["feat_lens"], method="ctc_greedy")
    assert [h.tokens for h in nar] != [h.tokens for h in ctc]


@pytest.mark.parametrize("name", ["paraformer", "transformer_ar"])
def test_a_model_without_a_ctc_head_refuses_the_ctc_methods(name):
    model = tiny_model(name, ctc_weight=0.0).eval()
    batch = toy_batch()
    for method in ("ctc_greedy", "ctc_beam"):
        with pytest.raises(ValueError, match=f"decode method '{method}' reads the CTC head.*model.ctc_weight > 0"):
            model.decode(batch["feats"], batch["feat_lens"], method=method)
    check_decode_method(model, "greedy")  # its own decoder still works


def test_an_unknown_method_names_the_valid_ones():
    with pytest.raises(ValueError, match="decode method 'viterbi' is unknown; use one of " + ", ".join(DECODE_METHODS)):
        check_decode_method(tiny_model("ctc"), "viterbi")
