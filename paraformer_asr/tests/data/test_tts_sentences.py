"""src/data/tts/sentences.py: normalisation to the tokenizer's alphabet, hash pools, the fortunes source."""

from __future__ import annotations

from pathlib import Path

import pytest

from src.data.tts import sentences
from src.data.tts.sentences import (
    POOL_SHARES,
    WORDS_PER_SENTENCE,
    load_sentences,
    normalise_sentence,
    number_words,
    sentence_pools,
    split_sentences,
    text_pool,
)

ALPHABET = set("abcdefghijklmnopqrstuvwxyz '")


def test_number_words():
    assert number_words(0) == "zero"
    assert number_words(13) == "thirteen"
    assert number_words(40) == "forty"
    assert number_words(99) == "ninety nine"
    assert number_words(305) == "three hundred five"
    assert number_words(1984) == "one thousand nine hundred eighty four"
    with pytest.raises(ValueError, match="10\\*\\*6"):
        number_words(10**6)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Never put off till tomorrow what you can do today.", "never put off till tomorrow what you can do today"),
        ("Mr. Smith has 3 dogs, isn't that \u2018nice\u2019?", "mister smith has three dogs isn't that nice"),
        ("A well-known fact -- obviously.", "a well known fact obviously"),
        ("Take 12 eggs and 250 grams of flour", "take twelve eggs and two hundred fifty grams of flour"),
    ],
)
def test_normalise_sentence(raw, expected):
    assert normalise_sentence(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "IBM makes good computers.",  # an acronym is spelled out by the engines
        "Pi is about 3.14 they say.",  # a decimal
        "He came 3rd in the race.",  # a number glued to letters
        "Send it to root@localhost right now.",  # code / e-mail
        "Caf\u00e9 au lait for all of us.",  # a non-ASCII letter
        "Too short.",  # 2 words
        " ".join(["word"] * (WORDS_PER_SENTENCE[1] + 1)),
    ],
)
def test_normalise_sentence_rejects(raw):
    assert normalise_sentence(raw) is None


def test_split_sentences_drops_attribution_and_keeps_abbreviations():
    cookie = "Dr. Jones was late. Was he?\nQ: Why not!\n\t\t-- Anonymous"
    assert split_sentences(cookie) == ["Dr. Jones was late.", "Was he?", "Why not!"]


def test_pools_are_a_function_of_the_text_and_follow_the_shares():
    texts = tuple(f"sentence number {number_words(i)}" for i in range(20000))
    pools = sentence_pools(texts)
    assert sum(len(p) for p in pools.values()) == len(texts)
    for name, share in POOL_SHARES:
        assert abs(len(pools[name]) / len(texts) - share) < 0.01, name
        assert all(text_pool(t) == name for t in pools[name][:50])
    assert sentence_pools(tuple(reversed(texts)))["dev"] == list(reversed(pools["dev"]))


def test_missing_source_names_the_package(tmp_path):
    with pytest.raises(sentences.SentenceSourceMissingError, match="apt-get install fortunes"):
        load_sentences(str(tmp_path / "nowhere"))


def test_reads_fortune_files(tmp_path):
    (tmp_path / "wisdom").write_text("Look before you leap. Or not.\n\t-- Someone\n%\nHe who hesitates is lost.\n%\n")
    assert load_sentences(str(tmp_path)) == ("he who hesitates is lost", "look before you leap")


@pytest.mark.skipif(not Path(sentences.FORTUNES_DIR).is_dir(), reason="Debian's fortunes package is not installed (sudo apt-get install fortunes)")
def test_the_installed_source_is_broad():
    texts = load_sentences()
    words = {w for t in texts for w in t.split()}
    assert len(texts) > 5000 and len(words) > 5000, (len(texts), len(words))
    assert all(set(t) <= ALPHABET and WORDS_PER_SENTENCE[0] <= len(t.split()) <= WORDS_PER_SENTENCE[1] for t in texts)
    assert all(min(len(p) for p in sentence_pools(texts).values()) > 300 for _ in [0])
