"""Test-time VTLN (src/decode/vtln.py): the warp, the per-utterance choice, and the CTC model's decode with it."""

import pytest
import torch

from src.data.cmvn import GlobalCMVN
from src.data.spec_augment import frequency_warp
from src.decode.greedy import ctc_greedy_search
from src.decode.vtln import VTLNSearch, parse_warps
from src.utils.config import FeaturesConfig
from tests.models.tiny import FEAT, tiny_model

FEATURES = FeaturesConfig(num_mel_bins=FEAT)


def _cmvn(seed=0):
    g = torch.Generator().manual_seed(seed)
    cmvn = GlobalCMVN(FEAT)
    for _ in range(3):
        cmvn.accumulate(5.0 + 3.0 * torch.randn(40, FEAT, generator=g))
    return cmvn


def test_warp_of_normalised_features_is_the_training_warp_of_the_log_mel():
    cmvn = _cmvn()
    raw = 5.0 + 3.0 * torch.randn(2, 30, FEAT, dtype=torch.float64)
    search = VTLNSearch([0.8, 1.0], cmvn, FEATURES)
    normalised = cmvn.apply(raw)
    for alpha in (0.8, 0.9, 1.12):
        want = torch.stack([cmvn.apply(frequency_warp(r, alpha, FEATURES)) for r in raw])
        torch.testing.assert_close(search.warp(normalised, alpha), want)
    assert search.warp(normalised, 1.0) is normalised


@torch.no_grad()
def test_each_utterance_gets_the_warp_whose_best_path_scores_highest():
    model = tiny_model("ctc", seed=1).eval()
    cmvn = _cmvn()
    warps = [0.8, 0.9, 1.0, 1.1]
    search = VTLNSearch(warps, cmvn, FEATURES)
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(6, 48, FEAT, generator=g) * torch.linspace(0.5, 2, 6)[:, None, None]
    lens = torch.tensor([48, 40, 33, 48, 30, 20])
    lp, out_lens, chosen = search.log_probs(model, feats, lens)
    per_warp = [model.ctc_log_probs(search.warp(feats, a), lens) for a in warps]
    for b in range(6):
        n = int(out_lens[b])
        scores = [float(p[b, :n].max(-1).values.sum()) for p, _ in per_warp]
        best = max(range(len(warps)), key=lambda i: (scores[i], -i))  # ties: the earlier warp
        assert chosen[b].item() == pytest.approx(warps[best])
        torch.testing.assert_close(lp[b], per_warp[best][0][b])
    assert len(set(chosen.tolist())) > 1  # the test means something: not every utterance picked the same warp


@torch.no_grad()
def test_decode_with_vtln_reads_the_chosen_log_probs_and_one_warp_of_1_changes_nothing():
    model = tiny_model("ctc", seed=3).eval()
    cmvn = _cmvn()
    feats, lens = torch.randn(3, 48, FEAT), torch.tensor([48, 40, 33])
    plain = model.decode(feats, lens, method="greedy")
    same = model.decode(feats, lens, method="greedy", vtln=VTLNSearch([1.0], cmvn, FEATURES))
    assert [h.tokens for h in same] == [h.tokens for h in plain]
    search = VTLNSearch([0.8, 0.9, 1.0, 1.1], cmvn, FEATURES)
    lp, out_lens, _ = search.log_probs(model, feats, lens)
    want = ctc_greedy_search(lp, out_lens)
    got = model.decode(feats, lens, method="greedy", vtln=search)
    assert [h.tokens for h in got] == [h.tokens for h in want]


def test_bad_settings_are_refused_with_the_fix():
    cmvn = _cmvn()
    with pytest.raises(ValueError, match=r"\(0.5, 1.5\)"):
        VTLNSearch([0.8, 2.0], cmvn, FEATURES)
    with pytest.raises(ValueError, match="non-empty"):
        VTLNSearch([], cmvn, FEATURES)
    with pytest.raises(ValueError, match="num_mel_bins is 80"):
        VTLNSearch([1.0], cmvn, FeaturesConfig())
    with pytest.raises(ValueError, match="this checkpoint is 'paraformer'"):
        VTLNSearch.for_checkpoint([1.0], model_name="paraformer", cmvn_state=cmvn.to_dict(), features=FEATURES)
    with pytest.raises(ValueError, match="CMVN statistics"):
        VTLNSearch.for_checkpoint([1.0], model_name="ctc", cmvn_state=None, features=FEATURES)
    with pytest.raises(ValueError, match="warps 16 mel bins, but the features have 12"):
        VTLNSearch([1.0], cmvn, FEATURES).warp(torch.zeros(1, 5, 12), 0.9)
    assert parse_warps("0.8, 0.9,1") == [0.8, 0.9, 1.0]
    with pytest.raises(ValueError):
        parse_warps("0.8,x")
