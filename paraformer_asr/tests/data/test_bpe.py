"""Byte-level BPE: Sennrich's hand-worked example, exact round trips, checkpoint JSON."""

import random

import pytest

from src.data.bpe import MIN_VOCAB_SIZE, BPETokenizer, learn_merges, pretokenize


def test_merges_on_the_hand_worked_example():
    # Sennrich et al. (2016), Algorithm 1's dictionary. Pair counts at the start:
    # e s = 6 + 3 = 9 and s t = 9 tie, (e, s) is smaller -> "es"; then es t = 9 -> "est";
    # l o = o w = 7 tie -> "lo"; lo w = 7 -> "low"; e w = n e = w est = 6 tie, (e, w)
    # smallest -> "ew"; then ew est = n ew = 6, "ew" < "n" -> "ewest"; n ewest = 6 -> "newest".
    counts = {b"low": 5, b"lower": 2, b"newest": 6, b"widest": 3}
    merges = learn_merges(counts, 7)
    assert [a + b for a, b in merges] == [b"es", b"est", b"lo", b"low", b"ew", b"ewest", b"newest"]
    assert merges[1] == (b"es", b"t") and merges[3] == (b"lo", b"w")
    tok = BPETokenizer(merges)
    # "lowest" never occurs, and splits into the learned pieces as in the paper.
    assert [tok.id_to_token[i] for i in tok.encode("lowest")] == ["low", "est"]
    assert [tok.id_to_token[i] for i in tok.encode("lower")] == ["low", "e", "r"]
    assert tok.vocab_size == MIN_VOCAB_SIZE + 7


def test_merging_stops_when_nothing_is_left_to_merge():
    assert [a + b for a, b in learn_merges({b"aaa": 1}, 10)] == [b"aa", b"aaa"]


def test_pretokenize_is_exact_and_keeps_the_space_with_the_word():
    text = "  the cat  sat "
    assert "".join(pretokenize(text)) == text
    assert pretokenize("the cat") == ["the", " cat"]


def test_round_trip_is_exact_on_random_unicode():
    rng = random.Random(0)
    corpus = ["the cat sat on the mat", "the dog ate the cat", "我们今天去北京", "naïve café"] * 5
    tok = BPETokenizer.train(corpus, 300)
    assert tok.vocab_size == 300
    ranges = [(0x20, 0x7E), (0xA0, 0x24F), (0x4E00, 0x9FFF), (0x1F300, 0x1F64F), (0x0590, 0x05FF)]
    for _ in range(200):
        chars = []
        for _ in range(rng.randint(0, 30)):
            lo, hi = rng.choice(ranges)
            chars.append(chr(rng.randint(lo, hi)) if rng.random() > 0.2 else " ")
        text = "".join(chars)
        ids = tok.encode(text)
        assert all(3 <= i < tok.vocab_size for i in ids)
        assert tok.decode(ids) == text


def test_training_compresses_its_corpus_and_learns_whole_words():
    corpus = ["the cat sat on the mat"] * 10
    tok = BPETokenizer.train(corpus, MIN_VOCAB_SIZE + 12)
    text = corpus[0]
    assert len(tok.encode(text)) < len(text.encode("utf-8")) / 2
    assert " cat" in tok.id_to_token and "the" in tok.id_to_token


def test_json_round_trip_and_specials_skipped():
    tok = BPETokenizer.train(["我们 我们 你们 hello hello"], 270)
    again = BPETokenizer.from_json(tok.to_json())
    assert again == tok and again.vocab_size == tok.vocab_size
    ids = tok.encode("我们 hello")
    assert again.encode("我们 hello") == ids
    assert tok.decode([0, 1, 2] + ids) == "我们 hello"


def test_partial_utf8_decodes_to_replacement_and_shows_as_hex():
    tok = BPETokenizer([])
    ids = tok.encode("我")  # 3 byte tokens
    assert len(ids) == 3 and tok.id_to_token[ids[0]] == "<0xE6>"
    assert tok.decode(ids[:2]) == "\ufffd"


def test_a_vocab_larger_than_the_text_allows_warns():
    with pytest.warns(UserWarning, match="allows only 2 merges"):
        assert BPETokenizer.train(["aaa"], 300).vocab_size == 261


def test_bad_vocab_size_and_ids_are_errors():
    with pytest.raises(ValueError, match="bpe_vocab_size=100 is too small"):
        BPETokenizer.train(["abc"], 100)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        BPETokenizer([]).decode([10_000])


def _naive_merges(counts, num_merges):
    """Algorithm 1 as written: recount every pair of every word before each merge."""
    words = {tuple(bytes([b]) for b in w): c for w, c in counts.items()}
    merges = []
    for _ in range(num_merges):
        pairs = {}
        for symbols, c in words.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] = pairs.get(pair, 0) + c
        if not pairs:
            break
        top = max(pairs.values())
        best = min(p for p, c in pairs.items() if c == top)
        merges.append(best)
        new = {}
        for symbols, c in words.items():
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(best[0] + best[1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            new[tuple(out)] = new.get(tuple(out), 0) + c
        words = new
    return merges


def test_incremental_training_equals_the_naive_algorithm():
    rng = random.Random(1)
    counts = {}
    for _ in range(300):
        word = "".join(rng.choice("aabbbcdde我") for _ in range(rng.randint(1, 8))).encode("utf-8")
        counts[word] = counts.get(word, 0) + rng.randint(1, 5)
    assert learn_merges(counts, 60) == _naive_merges(counts, 60)
