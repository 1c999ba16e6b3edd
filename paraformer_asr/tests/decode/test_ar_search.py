import math

import torch

from src.decode.beam_search import ar_beam_search
from src.decode.greedy import ar_greedy_search

EOS, SOS = 1, 1


def _table_step():
    """A hand-made next-token model over V = 5 whose state is the prefix (one list per row).

    After <sos>: P(3) = .5, P(4) = .4, rest .05 each ... then
    after "3": the model is unsure: P(2) = P(3) = P(4) = .3, P(eos) = .05, P(0) = .05
    after "4": P(eos) = .9
    Greedy takes 3 (.5), then at best .3 -> .15 for "3 x"; "4 <eos>" has .4 * .9 = .36.
    """

    def dist(prefix):
        if not prefix:
            p = [0.05, 0.0, 0.05, 0.5, 0.4]
        elif prefix == [3]:
            p = [0.05, 0.05, 0.3, 0.3, 0.3]
        elif prefix == [4]:
            p = [0.025, 0.9, 0.025, 0.025, 0.025]
        else:
            p = [0.0, 1.0, 0.0, 0.0, 0.0]
        return torch.tensor(p, dtype=torch.float64).clamp(min=1e-12).log()

    def step(tokens, state):
        new = [s + [int(t)] if int(t) != SOS or s else s for s, t in zip(state, tokens)]
        new = [s if s != [SOS] else [] for s in new]
        return torch.stack([dist(s) for s in new]), new

    def select(state, rows):
        return [list(state[r]) for r in rows.tolist()]

    return step, select


def test_beam_beats_greedy_on_hand_made_model():
    step, select = _table_step()
    greedy = ar_greedy_search(step, [[]], batch_size=1, max_lens=torch.tensor([4]), sos=SOS, eos=EOS)[0]
    assert greedy.tokens[0] == 3
    assert greedy.score < math.log(0.36)
    beam = ar_beam_search(step, [[]], select, beam_size=3, max_len=4, sos=SOS, eos=EOS, length_penalty=0.0)
    assert beam[0].tokens == [4]
    assert math.isclose(beam[0].score, math.log(0.4 * 0.9), rel_tol=1e-9)
    assert beam[0].score > greedy.score


def test_length_penalty_normalises_by_length():
    step, select = _table_step()
    beam = ar_beam_search(step, [[]], select, beam_size=3, max_len=4, sos=SOS, eos=EOS, length_penalty=1.0)
    # "4 <eos>" has 2 scored steps: log(.36) / 2.
    best = [h for h in beam if h.tokens == [4]][0]
    assert math.isclose(best.score, math.log(0.36) / 2, rel_tol=1e-9)
    assert [h.score for h in beam] == sorted((h.score for h in beam), reverse=True)


def test_low_ranked_eos_does_not_stop_the_search():
    # After <sos>: "3" .9, <eos> .1. After "3": "4" .9, eos .1. After "3 4": eos 1.
    # With K = 1 the early <eos> (rank 2) must not end the search: "3 4" (.81) wins over "" (.1).
    def step(tokens, state):
        new = [s + [int(t)] for s, t in zip(state, tokens)]
        rows = []
        for s in new:
            p = {(SOS,): [0, 0.1, 0, 0.9, 0], (SOS, 3): [0, 0.1, 0, 0, 0.9]}.get(tuple(s), [0, 1.0, 0, 0, 0])
            rows.append(torch.tensor(p, dtype=torch.float64).clamp(min=1e-12).log())
        return torch.stack(rows), new

    beam = ar_beam_search(step, [[]], lambda s, r: [list(s[i]) for i in r.tolist()], beam_size=1, max_len=5, sos=SOS, eos=EOS, length_penalty=0.0)
    assert beam[0].tokens == [3, 4]
    assert math.isclose(beam[0].score, math.log(0.81), rel_tol=1e-9)
