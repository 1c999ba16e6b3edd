from src.data.tokenizer import BLANK_ID, SOS_EOS_ID, UNK_ID, CharTokenizer


def test_specials_have_fixed_ids():
    tok = CharTokenizer.from_alphabet()
    assert (BLANK_ID, SOS_EOS_ID, UNK_ID) == (0, 1, 2)
    assert tok.id_to_token[:3] == ["<blank>", "<sos/eos>", "<unk>"]
    assert tok.vocab_size == 3 + 26 + 2  # specials + a-z + space + apostrophe


def test_round_trip_and_unknown():
    tok = CharTokenizer.from_alphabet()
    text = "hello world don't"
    ids = tok.encode(text)
    assert len(ids) == len(text) and min(ids) >= 3
    assert tok.decode(ids) == text
    assert tok.encode("a!") == [tok.token_to_id["a"], UNK_ID]
    # specials are skipped when decoding
    assert tok.decode([BLANK_ID, tok.token_to_id["h"], SOS_EOS_ID, UNK_ID, tok.token_to_id["i"]]) == "hi"


def test_build_from_texts_and_json_round_trip():
    tok = CharTokenizer.build(["abc", "cab d"])
    assert tok.chars == [" ", "a", "b", "c", "d"]
    again = CharTokenizer.from_json(tok.to_json())
    assert again == tok and again.encode("bad c") == tok.encode("bad c")
    assert again.decode(again.encode("bad c")) == "bad c"
