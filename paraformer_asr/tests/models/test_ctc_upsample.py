"""model.ctc_upsample: U CTC frames per encoder frame (src/models/ctc_model.py, UpsampledCTCHead)."""

import pytest
import torch

from src.losses.ctc import ctc_loss
from src.models import build_model, seconds_per_frame
from src.models.ctc_model import UpsampledCTCHead
from src.utils.config import ConfigError
from tests.models.tiny import FEAT, VOCAB, assert_checkpoint_decodes_as_trained, overfit_one_batch, tiny_config, tiny_model, toy_batch


def test_head_splits_each_frame_into_u_frames_in_order():
    """Frame u of encoder frame t is logits index U t + u, computed by rows u V .. (u + 1) V - 1 of the Linear."""
    torch.manual_seed(0)
    head = UpsampledCTCHead(d_model=6, vocab_size=5, upsample=3)
    x = torch.randn(2, 4, 6)
    y = head(x)
    assert y.shape == (2, 12, 5)
    w, b = head.proj.weight.view(3, 5, 6), head.proj.bias.view(3, 5)
    for t in range(4):
        for u in range(3):
            torch.testing.assert_close(y[:, 3 * t + u], x[:, t] @ w[u].T + b[u])


@pytest.mark.parametrize("upsample", [2, 3])
def test_shapes_lengths_and_padding(upsample):
    model = tiny_model("ctc", ctc_upsample=upsample).eval()
    feats, lens = torch.randn(2, 40, FEAT), torch.tensor([40, 27])
    lp, lp_lens = model.ctc_log_probs(feats, lens)
    enc_lens = model.encoder(feats, lens)[1]
    assert lp.shape == (2, upsample * int(enc_lens.max()), VOCAB) and lp_lens.tolist() == (upsample * enc_lens).tolist()
    torch.testing.assert_close(lp.exp().sum(-1), torch.ones(lp.shape[:2]))
    alone, alone_lens = model.ctc_log_probs(feats[1:, :27], lens[1:])  # padding never changes the real frames
    torch.testing.assert_close(lp[1, : int(alone_lens[0])], alone[0], rtol=1e-5, atol=1e-5)
    out = model(feats, lens, torch.tensor([[1, 2, 3], [4, 4, 0]]), torch.tensor([3, 2]))
    expect = ctc_loss(lp, torch.tensor([[1, 2, 3], [4, 4, 0]]), lp_lens, torch.tensor([3, 2]))
    torch.testing.assert_close(out["loss"], expect)  # the loss reads all U T' frames


def test_upsampling_makes_room_for_more_labels_than_encoder_frames():
    """L + repeats > T' is impossible for CTC at U = 1 (infinite loss) and possible at U = 2."""
    feats, lens = torch.randn(1, 15, FEAT), torch.tensor([15])  # T' = 3 at x4
    tokens, token_lens = torch.tensor([[3, 3, 5, 6]]), torch.tensor([4])  # needs 5 frames
    assert int(tiny_model("ctc").encoder(feats, lens)[1]) == 3

    def nll(model):
        lp, lp_lens = model.ctc_log_probs(feats, lens)
        return ctc_loss(lp, tokens, lp_lens, token_lens, zero_infinity=False)

    assert torch.isinf(nll(tiny_model("ctc"))) and torch.isfinite(nll(tiny_model("ctc", ctc_upsample=2)))


def test_overfit_one_batch_two_labels_per_encoder_frame():
    """A toy batch spoken twice as fast as the encoder frame rate allows at U = 1: learnt and decoded at U = 2."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        b = toy_batch(frames_per_token=2)  # 2 + 2 gap frames per token: ~1 encoder frame per token at x4
        lp, lp_lens = tiny_model("ctc").ctc_log_probs(b["feats"], b["feat_lens"])
        nll = ctc_loss(lp, b["tokens"], lp_lens, b["token_lens"], reduction="none", zero_infinity=False)
        assert torch.isinf(nll).any()  # at U = 1 this batch cannot be aligned at all
        model = tiny_model("ctc", ctc_upsample=2)
        first, final = overfit_one_batch(model, b, steps=200)
        assert final["loss"].item() < 0.05 * first, f"loss went {first:.3f} -> {final['loss'].item():.3f}"
        hyps = model.decode(b["feats"], b["feat_lens"], method="greedy")
        assert [h.tokens for h in hyps] == b["seqs"]
        assert all(max(h.token_frames) < 2 * int(n) for h, n in zip(hyps, model.encoder(b["feats"], b["feat_lens"])[1]))
    finally:
        torch.set_num_threads(before)


def test_timestamps_use_the_ctc_frame():
    assert seconds_per_frame(tiny_model("ctc"), 10.0) == pytest.approx(0.04)
    assert seconds_per_frame(tiny_model("ctc", ctc_upsample=2), 10.0) == pytest.approx(0.02)
    assert seconds_per_frame(tiny_model("paraformer"), 10.0) == pytest.approx(0.04)


@pytest.mark.parametrize("name", ["paraformer", "transformer_ar"])
def test_other_models_refuse_it(name):
    cfg = tiny_config(name, ctc_upsample=2)
    with pytest.raises(ConfigError, match="model.ctc_upsample=2 is read by model.name: ctc only"):
        build_model(cfg, vocab_size=VOCAB, input_dim=FEAT)


def test_bad_values_name_the_key():
    with pytest.raises(AssertionError, match=r"model\.ctc_upsample=0 must be 1"):
        tiny_model("ctc", ctc_upsample=0)
    cfg = tiny_config("ctc", ctc_upsample=2)
    cfg.model.encoder.inter_ctc_layers = [1]
    with pytest.raises(AssertionError, match=r"model\.ctc_upsample=2 with model\.encoder\.inter_ctc_layers"):
        build_model(cfg, vocab_size=VOCAB, input_dim=FEAT)


def test_an_upsampled_checkpoint_decodes_as_trained(tmp_path):
    loaded, loaded_cfg = assert_checkpoint_decodes_as_trained(tiny_config("ctc", ctc_upsample=2), tmp_path)
    assert loaded_cfg.model.ctc_upsample == 2 and loaded.ctc_upsample == 2
