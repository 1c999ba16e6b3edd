import math

import torch

from src.decode.rescoring import combine_scores, pick_best


def test_weighted_combination_and_pick():
    dec = torch.tensor([-1.0, -3.0, -0.5], dtype=torch.float64)
    ctc = torch.tensor([-4.0, -1.0, -6.0], dtype=torch.float64)
    lens = torch.tensor([2, 3, 1])
    combined = combine_scores(dec, ctc, lens, 0.5)
    # .5 * dec + .5 * ctc = -2.5, -2.0, -3.25: the middle one wins although neither score alone picks it.
    torch.testing.assert_close(combined, torch.tensor([-2.5, -2.0, -3.25], dtype=torch.float64))
    hyps = pick_best([[5, 6], [5, 6, 7], [5]], [[0, 1], [0, 1, 2], [0]], combined)
    assert hyps[0].tokens == [5, 6, 7] and hyps[0].score == -2.0 and hyps[0].token_frames == [0, 1, 2]
    assert [h.tokens for h in hyps] == [[5, 6, 7], [5, 6], [5]]


def test_without_ctc_uses_mean_per_token():
    dec = torch.tensor([-1.0, -2.4], dtype=torch.float64)
    lens = torch.tensor([1, 3])
    # -1 / 1 = -1 vs -2.4 / 3 = -0.8: the longer candidate wins once length is normalised.
    torch.testing.assert_close(combine_scores(dec, None, lens, 0.5), torch.tensor([-1.0, -0.8], dtype=torch.float64))
    # Weight 0 with an impossible CTC candidate (-inf) must not give NaN.
    out = combine_scores(dec, torch.tensor([-math.inf, -1.0], dtype=torch.float64), lens, 0.0)
    assert torch.isfinite(out).all()
