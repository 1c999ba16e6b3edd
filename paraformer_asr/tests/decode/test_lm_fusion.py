"""Shallow fusion of the n-gram LM into the CTC prefix beam search, against brute force."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from src.decode.ctc_prefix_beam import ctc_prefix_beam_search
from src.decode.hypothesis import SPECIAL_IDS
from src.decode.methods import check_decode_method, ctc_head_decode
from src.decode.ngram_lm import NgramLM
from tests.models.tiny import VOCAB, tiny_model, toy_batch

V = 6  # blank, <sos/eos>, <unk>, and text tokens 3, 4, 5


def labelling_log_probs(log_probs: torch.Tensor) -> dict[tuple[int, ...], float]:
    """log p(y | x) of every labelling, summing all T-frame paths (V**T of them) after collapsing."""
    lp = log_probs.double()
    out: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(lp.size(1)), repeat=lp.size(0)):
        collapsed = [k for k, _ in itertools.groupby(path)]
        y = tuple(c for c in collapsed if c != 0)
        s = float(sum(lp[t, c] for t, c in enumerate(path)))
        if y in out:
            m = max(out[y], s)
            s = m + math.log(math.exp(out[y] - m) + math.exp(s - m))
        out[y] = s
    return out


def fused(y: tuple[int, ...], ctc: float, lm: NgramLM, weight: float, bonus: float) -> float:
    text = [t for t in y if t not in SPECIAL_IDS]
    return ctc + weight * lm.sentence_logprob(text) + bonus * len(text)


@pytest.fixture
def lm() -> NgramLM:
    return NgramLM.train([[3, 4], [3, 4, 5], [5, 4], [3, 4]], order=3, vocab_size=V)


def test_zero_weight_is_the_plain_search(lm):
    torch.manual_seed(0)
    log_probs = torch.randn(7, V).log_softmax(-1)
    plain = ctc_prefix_beam_search(log_probs, beam_size=4)
    zero = ctc_prefix_beam_search(log_probs, beam_size=4, lm=lm, lm_weight=0.0, lm_bonus=0.0)
    assert [(h.tokens, h.score, h.token_frames) for h in zero] == [(h.tokens, h.score, h.token_frames) for h in plain]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("weight", "bonus"), [(0.5, 1.0), (2.0, 0.0), (1.0, -0.5)])
def test_unpruned_search_finds_the_fused_optimum(lm, seed, weight, bonus):
    """T = 4, V = 6: a beam wide enough never prunes, so the search is exact under the fused score."""
    torch.manual_seed(seed)
    log_probs = (torch.randn(4, V) * 2).log_softmax(-1)
    exact = {y: fused(y, c, lm, weight, bonus) for y, c in labelling_log_probs(log_probs).items()}
    hyps = ctc_prefix_beam_search(log_probs, beam_size=2000, token_topk=V, lm=lm, lm_weight=weight, lm_bonus=bonus)
    best = max(exact.values())
    assert math.isclose(hyps[0].score, best, rel_tol=1e-9, abs_tol=1e-9)
    scores = sorted(exact.values(), reverse=True)[: len(hyps)]
    assert [h.score for h in hyps] == pytest.approx(scores, rel=1e-9, abs=1e-9)


def test_the_lm_settles_what_the_acoustics_leave_open(lm):
    """Frames say 3, then 4 or 5 nearly evenly (5 slightly ahead); the LM has seen "3 4" only."""
    probs = torch.tensor([
        [0.05, 0.0, 0.0, 0.95, 0.0, 0.0],
        [0.10, 0.0, 0.0, 0.00, 0.44, 0.46],
        [0.90, 0.0, 0.0, 0.00, 0.05, 0.05],
    ]) + 1e-6  # fmt: skip
    log_probs = (probs / probs.sum(-1, keepdim=True)).log()
    assert ctc_prefix_beam_search(log_probs, beam_size=4)[0].tokens == [3, 5]
    assert ctc_prefix_beam_search(log_probs, beam_size=4, lm=lm, lm_weight=0.5, lm_bonus=0.0)[0].tokens == [3, 4]


def test_ctc_head_decode_passes_the_lm(lm):
    torch.manual_seed(3)
    log_probs = torch.randn(2, 6, V).log_softmax(-1)
    lengths = torch.tensor([6, 4])
    got = ctc_head_decode(log_probs, lengths, "ctc_beam", 3, lm=lm, lm_weight=1.5, lm_bonus=0.2, ctc_weight=0.3)
    for b in range(2):
        want = ctc_prefix_beam_search(log_probs[b, : lengths[b]], beam_size=3, lm=lm, lm_weight=1.5, lm_bonus=0.2)[0]
        assert (got[b].tokens, got[b].score) == (want.tokens, want.score)


@pytest.mark.parametrize("name", ["paraformer", "transformer_ar", "ctc"])
def test_models_fuse_the_lm_into_ctc_beam(name):
    model = tiny_model(name, ctc_weight=0.3).eval()
    batch = toy_batch()
    lm = NgramLM.train(batch["seqs"] * 3, order=3, vocab_size=VOCAB)
    with torch.no_grad():
        enc, enc_lens = model.encoder(batch["feats"], batch["feat_lens"])
        lp = torch.log_softmax(model.ctc_head(enc).float(), dim=-1)
        got = model.decode(batch["feats"], batch["feat_lens"], method="ctc_beam", beam_size=3, lm=lm, lm_weight=1.0, lm_bonus=0.5)
    for b in range(lp.size(0)):
        want = ctc_prefix_beam_search(lp[b, : int(enc_lens[b])], beam_size=3, lm=lm, lm_weight=1.0, lm_bonus=0.5)[0]
        assert got[b].tokens == want.tokens and got[b].score == pytest.approx(want.score)


def test_an_lm_is_refused_where_no_ctc_beam_search_runs(lm):
    para, ctc = tiny_model("paraformer", ctc_weight=0.3), tiny_model("ctc")
    check_decode_method(para, "ctc_beam", lm=lm)
    check_decode_method(ctc, "beam", lm=lm)  # the CTC model's beam is the prefix beam search
    for model, method in [(para, "beam"), (para, "greedy"), (para, "ctc_greedy"), (ctc, "greedy")]:
        with pytest.raises(ValueError, match="ctc_beam"):
            check_decode_method(model, method, lm=lm)
