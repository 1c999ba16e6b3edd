"""Every model, search, metric and the service with the built vocabularies (BPE, Mandarin chars)."""

import pytest
import torch
from fastapi.testclient import TestClient

from src.data.bpe import BPETokenizer
from src.data.tokenizer import CharTokenizer
from src.metrics.asr_metrics import ASRMetrics
from src.models import build_model
from src.serve.app import create_app
from src.training.evaluate import decode_options
from src.utils.config import load_config

TOKENIZERS = {
    "bpe": lambda: BPETokenizer.train(["the cat sat on the mat", "a dog ran"] * 4, 275),
    "mandarin": lambda: CharTokenizer.build(["我们去北京", "你好世界"]),
}


@pytest.mark.parametrize("kind", sorted(TOKENIZERS))
@pytest.mark.parametrize("name", ["paraformer", "ctc", "transformer_ar"])
@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_models_decode_into_the_vocabulary(kind, name, method):
    tok = TOKENIZERS[kind]()
    cfg = load_config("configs/tiny_paraformer.yaml", [f"model.name={name}", "decode.max_len=8"])
    torch.manual_seed(0)
    model = build_model(cfg, tok.vocab_size, cfg.data.feat_dim).eval()
    feats, lens = torch.randn(2, 40, cfg.data.feat_dim), torch.tensor([40, 28])  # (B, T, F), (B,)
    ids = [tok.encode(t) for t in (["the cat", "a dog ran"] if kind == "bpe" else ["我们去", "你好世界"])]
    token_lens = torch.tensor([len(i) for i in ids])  # (B,)
    tokens = torch.zeros(2, int(token_lens.max()), dtype=torch.long)  # (B, L), blank-padded
    for b, i in enumerate(ids):
        tokens[b, : len(i)] = torch.tensor(i)
    losses = model(feats, lens, tokens, token_lens)
    assert torch.isfinite(losses["loss"])
    with torch.inference_mode():
        hyps = model.decode(feats, lens, **decode_options(cfg, method, 2))
    for hyp in hyps:
        assert all(2 <= int(t) < tok.vocab_size for t in hyp.tokens)  # <unk> (2) is a valid output
        text = tok.decode(hyp.tokens)
        assert isinstance(text, str)
        if hyp.token_frames is not None:
            assert len(hyp.token_frames) == len(hyp.tokens)


def test_cer_counts_characters_and_wer_words():
    m = ASRMetrics()
    m.update("我们去北京", "我们去上海")  # 2 of 5 characters wrong; one unsegmented "word"
    m.update("the cat sat", "the cat sad")  # 1 of 11 characters, 1 of 3 words
    out = m.compute()
    assert out["cer"] == pytest.approx(3 / 16) and out["wer"] == pytest.approx(2 / 4)


def test_service_answers_with_bpe_tokens():
    tok = TOKENIZERS["bpe"]()
    cfg = load_config("configs/tiny_paraformer.yaml")
    torch.manual_seed(0)
    model = build_model(cfg, tok.vocab_size, cfg.data.feat_dim).eval()
    with TestClient(create_app(model, tok, cfg, "cpu")) as client:
        r = client.post("/transcribe", json={"features": torch.randn(40, cfg.data.feat_dim).tolist()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["text"] == tok.decode(body["token_ids"]) and len(body["tokens"]) == len(body["token_ids"])
