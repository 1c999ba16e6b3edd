import math

import torch

from src.decode.ctc_prefix_beam import ctc_prefix_beam_search
from src.decode.greedy import ctc_greedy_search
from src.losses.ctc import ctc_nll


def test_greedy_collapses_repeats_and_drops_blanks():
    path = torch.tensor([[3, 3, 0, 3, 4, 4, 0, 0, 5]])
    log_probs = torch.log_softmax(torch.nn.functional.one_hot(path, 6).float() * 10, -1)  # (1, T, V)
    hyp = ctc_greedy_search(log_probs, torch.tensor([9]))[0]
    assert hyp.tokens == [3, 3, 4, 5]
    assert hyp.token_frames == [0, 3, 4, 8]
    # Only the first 4 frames are valid for a shorter length.
    assert ctc_greedy_search(log_probs, torch.tensor([4]))[0].tokens == [3, 3]


def test_beam_finds_better_labelling_than_best_path():
    # Two frames, P(blank) = .6, P(a) = .4 each (a = id 3).
    # Best path: (blank, blank) -> "" with p = .36.
    # Labelling "a": paths (a,a) .16 + (a,blank) .24 + (blank,a) .24 = .64 > .36.
    probs = torch.zeros(1, 2, 5)
    probs[0, :, 0] = 0.6
    probs[0, :, 3] = 0.4
    log_probs = probs.clamp(min=1e-12).log()
    greedy = ctc_greedy_search(log_probs, torch.tensor([2]))[0]
    beam = ctc_prefix_beam_search(log_probs[0], beam_size=3)
    assert greedy.tokens == [] and math.isclose(greedy.score, math.log(0.36), rel_tol=1e-5)
    assert beam[0].tokens == [3] and math.isclose(beam[0].score, math.log(0.64), rel_tol=1e-5)
    assert beam[1].tokens == [] and math.isclose(beam[1].score, math.log(0.36), rel_tol=1e-5)


def test_prefix_scores_equal_exact_labelling_probability():
    # With a beam wide enough to keep every prefix, each score is exactly log p(y|x) from the CTC forward.
    torch.manual_seed(0)
    logits = torch.randn(6, 4, dtype=torch.float64)
    logits[:, 1] = -1e4  # <sos/eos> would be dropped from the output, merging labellings
    log_probs = torch.log_softmax(logits, -1)
    nbest = ctc_prefix_beam_search(log_probs, beam_size=200, token_topk=4)
    for hyp in nbest[:10]:
        y = torch.tensor([hyp.tokens or [0]])
        nll = ctc_nll(log_probs.unsqueeze(0), y, torch.tensor([6]), torch.tensor([len(hyp.tokens)]))
        assert math.isclose(hyp.score, -float(nll), rel_tol=1e-9, abs_tol=1e-9)
    assert [h.score for h in nbest] == sorted((h.score for h in nbest), reverse=True)


def test_sos_eos_is_never_output():
    probs = torch.full((3, 4), 0.01)
    probs[:, 1] = 0.97  # <sos/eos> everywhere
    hyps = ctc_prefix_beam_search(probs.log(), beam_size=2)
    assert all(1 not in h.tokens for h in hyps)
    assert ctc_greedy_search(probs.log().unsqueeze(0), torch.tensor([3]))[0].tokens == []
