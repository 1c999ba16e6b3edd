"""Intermediate CTC and self-conditioned CTC (model.encoder.inter_ctc_layers / self_conditioning)."""

import pytest
import torch

from src.losses.ctc import ctc_loss
from src.models import build_model
from src.utils.config import ConfigError
from src.utils.masks import make_pad_mask

from tests.models.tiny import FEAT, VOCAB, assert_checkpoint_decodes_as_trained, overfit_one_batch, tiny_config, toy_batch


def _model(layers=(1,), self_conditioning=False, weight=0.3, num_layers=3, seed=0, block="conformer"):
    cfg = tiny_config("ctc", inter_ctc_weight=weight)
    cfg.model.encoder.type = block
    cfg.model.encoder.num_layers = num_layers
    cfg.model.encoder.inter_ctc_layers = list(layers)
    cfg.model.encoder.self_conditioning = self_conditioning
    torch.manual_seed(seed)
    return build_model(cfg, vocab_size=VOCAB, input_dim=FEAT)


def _by_hand(model, feats, feat_lens):
    """The encoder stack run layer by layer, taps and feedback written out: (final log-probs, [tap log-probs], T')."""
    enc, head = model.encoder, model.ctc_head
    x, lens = enc.embed(feats, feat_lens)
    x = enc.pos_enc(x)
    pad_mask = make_pad_mask(lens, x.size(1))
    taps = []
    for index, layer in enumerate(enc.layers, start=1):
        x = layer(x, pad_mask)
        if index in enc.inter_ctc_layers:
            p = torch.softmax(head(enc.norm_out(x)), dim=-1)  # (B, T', V)
            taps.append(p.log())
            if enc.condition is not None:
                x = x + p @ enc.condition.weight.T + enc.condition.bias
    y = enc.norm_out(x).masked_fill(pad_mask.unsqueeze(-1), 0.0)
    return torch.log_softmax(head(y), dim=-1), taps, lens


@pytest.mark.parametrize("self_conditioning", [False, True])
def test_shapes_and_loss_is_the_weighted_mix(self_conditioning):
    model = _model(layers=(1, 2), self_conditioning=self_conditioning, weight=0.4).eval()
    b = toy_batch()
    enc, enc_lens, inter = model.encoder(b["feats"], b["feat_lens"], ctc_head=model.ctc_head, return_inter=True)
    assert enc.shape == (2, int(enc_lens.max()), 32) and len(inter) == 2
    for lp in inter:
        assert lp.shape == (2, int(enc_lens.max()), VOCAB) and lp.dtype == torch.float32
        torch.testing.assert_close(lp.exp().sum(-1), torch.ones(lp.shape[:2]))

    final, taps, lens = _by_hand(model, b["feats"], b["feat_lens"])
    args = (b["tokens"], lens, b["token_lens"])
    want_inter = (ctc_loss(taps[0], *args) + ctc_loss(taps[1], *args)) / 2
    want_ctc = ctc_loss(final, *args)
    out = model(b["feats"], b["feat_lens"], b["tokens"], b["token_lens"])
    assert set(out) == {"loss", "ctc", "inter_ctc"}
    torch.testing.assert_close(out["ctc"], want_ctc, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out["inter_ctc"], want_inter, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out["loss"], 0.6 * want_ctc + 0.4 * want_inter, atol=1e-5, rtol=1e-5)
    # Decoding reads the same stack (with the feedback when self-conditioned).
    log_probs, _ = model.ctc_log_probs(b["feats"], b["feat_lens"])
    torch.testing.assert_close(log_probs, final, atol=1e-5, rtol=1e-5)


def test_taps_without_feedback_leave_the_model_unchanged():
    """InterCTC alone adds a loss term and no parameter: the final CTC, decode and the weights equal the plain model's."""
    plain, tapped = _model(layers=()), _model(layers=(1, 2))
    assert plain.state_dict().keys() == tapped.state_dict().keys()
    b = toy_batch()
    out_plain = plain(b["feats"], b["feat_lens"], b["tokens"], b["token_lens"])
    out_tapped = tapped(b["feats"], b["feat_lens"], b["tokens"], b["token_lens"])
    assert set(out_plain) == {"loss", "ctc"}
    torch.testing.assert_close(out_tapped["ctc"], out_plain["ctc"])
    assert out_tapped["inter_ctc"] > 0 and not torch.isclose(out_tapped["loss"], out_plain["loss"])
    torch.testing.assert_close(tapped.ctc_log_probs(b["feats"], b["feat_lens"])[0], plain.ctc_log_probs(b["feats"], b["feat_lens"])[0])


def test_zero_feedback_weights_equal_no_feedback_and_nonzero_ones_change_the_output():
    fed, unfed = _model(layers=(1,), self_conditioning=True), _model(layers=(1,))
    unfed.load_state_dict({k: v for k, v in fed.state_dict().items() if not k.startswith("encoder.condition.")})
    b = toy_batch()
    changed = fed.ctc_log_probs(b["feats"], b["feat_lens"])[0]
    assert (changed - unfed.ctc_log_probs(b["feats"], b["feat_lens"])[0]).abs().max() > 1e-3
    with torch.no_grad():
        fed.encoder.condition.weight.zero_()
        fed.encoder.condition.bias.zero_()
    torch.testing.assert_close(fed.ctc_log_probs(b["feats"], b["feat_lens"])[0], unfed.ctc_log_probs(b["feats"], b["feat_lens"])[0])


@pytest.mark.parametrize("block", ["transformer", "conformer"])
def test_padding_never_changes_real_frames_with_feedback(block):
    model = _model(layers=(1,), self_conditioning=True, block=block).eval()
    x = torch.randn(1, 30, FEAT)
    alone, n = model.ctc_log_probs(x, torch.tensor([30]))
    batch = torch.cat([torch.cat([x, 5 * torch.randn(1, 26, FEAT)], dim=1), torch.randn(1, 56, FEAT)])
    both, lens = model.ctc_log_probs(batch, torch.tensor([30, 56]))
    assert int(lens[0]) == int(n)
    torch.testing.assert_close(both[:1, : int(n)], alone, atol=1e-5, rtol=1e-5)


def test_every_parameter_gets_a_gradient_and_the_tap_trains_the_lower_layer():
    model = _model(layers=(1,), self_conditioning=True).train()
    b = toy_batch()
    out = model(b["feats"], b["feat_lens"], b["tokens"], b["token_lens"])
    out["loss"].backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]
    assert model.encoder.condition.weight.grad.abs().sum() > 0
    # The intermediate term alone reaches layer 1 but not layer 3 (above the tap).
    model.zero_grad(set_to_none=True)
    model(b["feats"], b["feat_lens"], b["tokens"], b["token_lens"])["inter_ctc"].backward()
    assert model.encoder.layers[0].feed_forward.w_1.weight.grad.abs().sum() > 0
    assert model.encoder.layers[2].feed_forward.w_1.weight.grad is None


def test_grad_checkpointing_same_loss_and_grads():
    model = _model(layers=(1, 2), self_conditioning=True).train()
    b = toy_batch()

    def run(flag):
        model.grad_checkpointing = flag
        model.zero_grad()
        out = model(b["feats"], b["feat_lens"], b["tokens"], b["token_lens"])
        out["loss"].backward()
        return out["loss"].detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    loss_off, g_off = run(False)
    loss_on, g_on = run(True)
    torch.testing.assert_close(loss_on, loss_off)
    for name in g_off:
        torch.testing.assert_close(g_on[name], g_off[name], msg=f"gradient of {name} differs")


@pytest.mark.parametrize(
    "layers,self_conditioning,weight,needle",
    [
        ((3,), False, 0.3, "each must be a layer 1..2"),
        ((0,), False, 0.3, "each must be a layer 1..2"),
        ((), True, 0.3, "set model.encoder.inter_ctc_layers too"),
        ((1,), False, 1.5, "model.inter_ctc_weight=1.5"),
    ],
)
def test_bad_settings_name_the_key(layers, self_conditioning, weight, needle):
    with pytest.raises(AssertionError, match=needle.replace(".", r"\.")):
        _model(layers=layers, self_conditioning=self_conditioning, weight=weight)


@pytest.mark.parametrize("name", ["paraformer", "transformer_ar"])
def test_other_models_refuse_intermediate_ctc(name):
    cfg = tiny_config(name)
    cfg.model.encoder.inter_ctc_layers = [1]
    with pytest.raises(ConfigError, match="model.name: ctc only"):
        build_model(cfg, vocab_size=VOCAB, input_dim=FEAT)


def test_overfit_one_batch_with_self_conditioning():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = _model(layers=(1,), self_conditioning=True, num_layers=2)
        b = toy_batch()
        first, final = overfit_one_batch(model, b)
        assert final["loss"].item() < 0.05 * first and final["inter_ctc"].item() < 0.2, f"loss went {first:.3f} -> {final}"
        hyps = model.decode(b["feats"], b["feat_lens"], method="greedy")
        assert [h.tokens for h in hyps] == b["seqs"]
    finally:
        torch.set_num_threads(before)


def test_a_self_conditioned_checkpoint_decodes_as_trained(tmp_path):
    """The feedback layer and the taps travel in the checkpoint's config and weights (eval, infer, serve)."""
    cfg = tiny_config("ctc")
    cfg.model.encoder.num_layers, cfg.model.encoder.inter_ctc_layers, cfg.model.encoder.self_conditioning = 3, [1, 2], True
    loaded, loaded_cfg = assert_checkpoint_decodes_as_trained(cfg, tmp_path)
    assert loaded_cfg.model.encoder.inter_ctc_layers == [1, 2] and loaded.encoder.condition is not None
