"""The service with the real (tiny, untrained) models loaded from a checkpoint file."""

from __future__ import annotations

import pytest
import torch
from fastapi.testclient import TestClient

from src.data.toy_seq2seq import ToySeq2Seq
from src.serve.app import create_app
from src.serve.audio_input import load_cmvn
from src.serve.batcher import pad_batch
from src.training.evaluate import decode_options
from src.training.inference import load_for_inference


def _utterances(cfg, tok, n: int) -> list[torch.Tensor]:
    ds = ToySeq2Seq(cfg.data, split="val", tokenizer=tok, subsampling=cfg.model.subsampling)
    return [ds[i][0] for i in range(n)]  # (T_i, F), different lengths


@pytest.mark.parametrize("name,upsample", [("paraformer", 1), ("ctc", 1), ("ctc", 2), ("transformer_ar", 1)])
def test_answers_equal_offline_decoding(name, upsample, tiny_checkpoint, one_torch_thread):
    path = tiny_checkpoint(name, ctc_upsample=upsample)
    model, tok, cfg = load_for_inference(path, "cpu")
    assert load_cmvn(path) is None  # toy checkpoints carry no CMVN
    utts = _utterances(cfg, tok, 3)
    with TestClient(create_app(model, tok, cfg, "cpu")) as client:
        assert client.get("/health").json()["model_name"] == name
        for method in ("greedy", "beam", "ctc_greedy", "ctc_beam"):
            for feats in utts:
                r = client.post("/transcribe", json={"features": feats.tolist(), "decode_method": method, "beam_size": 3})
                assert r.status_code == 200, r.text
                with torch.inference_mode():
                    ref = model.decode(feats[None], torch.tensor([feats.shape[0]]), **decode_options(cfg, method, 3))[0]
                body = r.json()
                assert body["token_ids"] == ref.tokens and body["text"] == tok.decode(ref.tokens)
                assert body["decode_method"] == method and body["beam_size"] == (None if "greedy" in method else 3)
                if ref.token_frames is None:
                    assert body["timestamps"] is None
                else:
                    sec = model.subsampling * cfg.features.frame_shift_ms / 1000 / upsample  # one CTC frame
                    assert body["timestamps"] == pytest.approx([f * sec for f in ref.token_frames])


@pytest.mark.parametrize("name", ["paraformer", "ctc", "transformer_ar"])
def test_batched_decoding_equals_unbatched(name, tiny_checkpoint, one_torch_thread):
    # The contract dynamic batching relies on: padding never changes an utterance's result.
    model, tok, cfg = load_for_inference(tiny_checkpoint(name), "cpu")
    utts = _utterances(cfg, tok, 5)
    feats, lens = pad_batch(utts)
    for method in ("greedy", "beam"):
        opts = decode_options(cfg, method, 3)
        with torch.inference_mode():
            batched = model.decode(feats, lens, **opts)
            single = [model.decode(u[None], torch.tensor([u.shape[0]]), **opts)[0] for u in utts]
        assert [h.tokens for h in batched] == [h.tokens for h in single]
        assert [h.token_frames for h in batched] == [h.token_frames for h in single]
        assert any(h.tokens for h in single)  # non-trivial outputs, or the comparison proves little


def test_amp_bf16_service_decodes_under_autocast_like_offline(tiny_checkpoint, one_torch_thread):
    # --amp: the worker thread enters autocast itself (it is thread-local); answers equal an offline bf16 decode.
    from src.utils.amp import resolve_amp

    model, tok, cfg = load_for_inference(tiny_checkpoint("paraformer"), "cpu")
    amp = resolve_amp(True, torch.device("cpu"))  # true: bf16 on any CPU (emulated where not native)
    seen = []
    hook = model.encoder.register_forward_hook(lambda m, args, out: seen.append(out[0].dtype))
    feats = _utterances(cfg, tok, 1)[0]  # (T, F)
    with TestClient(create_app(model, tok, cfg, "cpu", amp=amp)) as client:
        r = client.post("/transcribe", json={"features": feats.tolist()})
    assert r.status_code == 200, r.text
    assert seen == [torch.bfloat16]  # the service's decode really ran in bf16
    with torch.inference_mode(), amp.autocast():
        ref = model.decode(feats[None], torch.tensor([feats.shape[0]]), **decode_options(cfg, "greedy", 1))[0]
    hook.remove()
    assert r.json()["token_ids"] == ref.tokens


def test_a_ctc_method_on_a_model_without_a_ctc_head_is_a_422(tiny_checkpoint, one_torch_thread):
    model, tok, cfg = load_for_inference(tiny_checkpoint("paraformer"), "cpu")
    model.ctc_head = None  # as a Paraformer trained with model.ctc_weight: 0
    feats = _utterances(cfg, tok, 1)[0]
    with TestClient(create_app(model, tok, cfg, "cpu")) as client:
        r = client.post("/transcribe", json={"features": feats.tolist(), "decode_method": "ctc_greedy"})
        assert r.status_code == 422
        assert "decode_method: decode method 'ctc_greedy' reads the CTC head" in r.json()["detail"]
        assert client.post("/transcribe", json={"features": feats.tolist(), "decode_method": "greedy"}).status_code == 200


@pytest.mark.parametrize("name", ["paraformer", "ctc"])
def test_a_server_lm_serves_the_ctc_beam_requests(name, tiny_checkpoint, one_torch_thread, tmp_path):
    """decode.lm_path: ctc_beam (and the CTC model's beam) answers equal offline fused decoding; other methods ignore it."""
    from src.decode.ngram_lm import NgramLM, load_lm

    model, tok, cfg = load_for_inference(tiny_checkpoint(name), "cpu")
    lm = NgramLM.train([tok.encode(t) for t in ("hello world", "good morning", "see you")], order=3,
                       vocab_size=tok.vocab_size, tokenizer_json=tok.to_json())  # fmt: skip
    lm.save(tmp_path / "lm.json")
    cfg.decode.lm_path, cfg.decode.lm_weight, cfg.decode.lm_bonus = str(tmp_path / "lm.json"), 2.0, 0.5
    feats = _utterances(cfg, tok, 1)[0]
    lens = torch.tensor([feats.shape[0]])
    with TestClient(create_app(model, tok, cfg, "cpu")) as client:
        for method in ("greedy", "beam", "ctc_beam"):
            r = client.post("/transcribe", json={"features": feats.tolist(), "decode_method": method, "beam_size": 3})
            assert r.status_code == 200, r.text
            fused = method == "ctc_beam" or (name == "ctc" and method == "beam")
            opts = decode_options(cfg, method, 3, tok)
            if not fused:
                opts.pop("lm", None)
            with torch.inference_mode():
                ref = model.decode(feats[None], lens, **opts)[0]
            assert r.json()["token_ids"] == ref.tokens
    assert load_lm(tmp_path / "lm.json").order == 3
    other = NgramLM.train([[3, 4]], order=2, vocab_size=tok.vocab_size, tokenizer_json='{"type": "bpe"}')
    other.save(tmp_path / "other.json")
    cfg.decode.lm_path = str(tmp_path / "other.json")
    with pytest.raises(ValueError, match="another tokenizer"):
        create_app(model, tok, cfg, "cpu")


def test_a_server_lm_needs_a_ctc_head(tiny_checkpoint, tmp_path):
    model, tok, cfg = load_for_inference(tiny_checkpoint("transformer_ar"), "cpu")
    if getattr(model, "ctc_head", None) is not None:
        model.ctc_head = None  # the AR model without its auxiliary CTC head (model.ctc_weight: 0)
    cfg.decode.lm_path = str(tmp_path / "lm.json")
    with pytest.raises(ValueError, match="no CTC head"):
        create_app(model, tok, cfg, "cpu")


def test_a_server_vtln_decodes_every_request_as_offline(tiny_checkpoint, one_torch_thread):
    from src.data.cmvn import GlobalCMVN
    from src.decode.vtln import VTLNSearch

    model, tok, cfg = load_for_inference(tiny_checkpoint("ctc"), "cpu")
    cfg.features.num_mel_bins = cfg.data.feat_dim  # toy features stand in for log-mel ones here
    cmvn = GlobalCMVN(cfg.features.num_mel_bins)
    cmvn.accumulate(5.0 + 3.0 * torch.randn(200, cfg.features.num_mel_bins, generator=torch.Generator().manual_seed(0)))
    vtln = VTLNSearch([0.8, 0.9, 1.0, 1.1], cmvn, cfg.features)
    utts = _utterances(cfg, tok, 3)
    changed = 0
    with TestClient(create_app(model, tok, cfg, "cpu", vtln=vtln)) as client:
        for feats in utts:
            for method in ("greedy", "beam"):
                r = client.post("/transcribe", json={"features": feats.tolist(), "decode_method": method, "beam_size": 3})
                assert r.status_code == 200, r.text
                with torch.inference_mode():
                    lens = torch.tensor([feats.shape[0]])
                    ref = model.decode(feats[None], lens, **decode_options(cfg, method, 3), vtln=vtln)[0]
                    plain = model.decode(feats[None], lens, **decode_options(cfg, method, 3))[0]
                assert r.json()["token_ids"] == ref.tokens
                changed += ref.tokens != plain.tokens
    assert changed > 0  # the warps change these transcripts, so a service that ignored them would fail above
