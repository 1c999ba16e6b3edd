"""data.tokenizer: alphabet / char / bpe built from the training manifest, and read back from JSON."""

import json

import pytest

from src.data.bpe import BPETokenizer
from src.data.tokenizer import UNK_ID, CharTokenizer
from src.data.vocab import build_tokenizer, tokenizer_from_json
from src.utils.config import load_config


def _manifest(tmp_path, texts):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"audio_filepath": f"{i}.wav", "duration": 1.0, "text": t}) + "\n"
                            for i, t in enumerate(texts)))
    return path


def test_alphabet_is_the_default():
    assert build_tokenizer(load_config()) == CharTokenizer.from_alphabet()


def test_char_vocab_from_a_mandarin_manifest_with_min_count(tmp_path):
    path = _manifest(tmp_path, ["我们去北京", "我们去上海", "你好"])
    cfg = load_config(overrides=["data.dataset=manifest", f"data.train_manifest={path}", "data.tokenizer=char",
                                 "data.char_min_count=2"])
    tok = build_tokenizer(cfg)
    assert isinstance(tok, CharTokenizer) and tok.chars == sorted("我们去")
    assert tok.encode("我们好") == [tok.token_to_id["我"], tok.token_to_id["们"], UNK_ID]
    assert tokenizer_from_json(tok.to_json()) == tok


def test_bpe_from_the_manifest_normalised_text(tmp_path):
    path = _manifest(tmp_path, ["THE CAT SAT", "the cat ran"] * 3)
    cfg = load_config(overrides=["data.dataset=manifest", f"data.train_manifest={path}", "data.tokenizer=bpe",
                                 "data.bpe_vocab_size=265"])
    tok = build_tokenizer(cfg)
    assert isinstance(tok, BPETokenizer) and tok.vocab_size == 265
    assert "THE" not in tok.id_to_token  # trained on the manifest reader's lower-cased text
    assert tokenizer_from_json(tok.to_json()) == tok


def test_built_vocab_needs_a_manifest():
    with pytest.raises(ValueError, match="needs data.dataset=manifest and data.train_manifest"):
        build_tokenizer(load_config(overrides=["data.tokenizer=char"]))


def test_unknown_json_type_is_an_error():
    with pytest.raises(ValueError, match="unknown tokenizer type 'wordpiece'"):
        tokenizer_from_json(json.dumps({"type": "wordpiece"}))
