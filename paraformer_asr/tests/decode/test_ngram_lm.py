"""src/decode/ngram_lm.py: interpolated Kneser-Ney, checked against the textbook formulas."""

from __future__ import annotations

import itertools
import json
import math
import random

import pytest

from src.decode.ngram_lm import BOS, NgramLM, load_lm

V = 8  # ids 0-2 specials, 3-7 text tokens: the LM predicts 2..7 and </s> = 8


def random_sentences(seed: int, n: int = 200, max_len: int = 12) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(2, V) for _ in range(rng.randrange(0, max_len))] for _ in range(n)]


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_every_history_gives_a_distribution(order):
    lm = NgramLM.train(random_sentences(0), order=order, vocab_size=V)
    rng = random.Random(1)
    histories = [[], [3], [7, 7, 7, 7, 7, 7]] + [[rng.randrange(2, V) for _ in range(rng.randrange(0, 7))] for _ in range(30)]
    for h in histories:
        probs = [lm.prob(h, w) for w in [*range(2, V), lm.eos]]
        assert min(probs) > 0
        assert math.isclose(sum(probs), 1.0, abs_tol=1e-12), (order, h)


def test_bigram_matches_the_kneser_ney_formulas():
    """An independent bigram KN from Chen & Goodman's definitions (continuation unigram, absolute discount)."""
    sents = [[3, 4], [4], [3, 4, 4, 5], [5, 3]]
    d = 0.75
    lm = NgramLM.train(sents, order=2, vocab_size=V, discount=d)
    eos = V
    bigrams: dict[tuple[int, int], int] = {}
    for s in sents:
        padded = [BOS, *s, eos]
        for a, b in itertools.pairwise(padded):
            bigrams[(a, b)] = bigrams.get((a, b), 0) + 1
    predictable = [*range(2, V), eos]
    n_cont = {w: sum(1 for (a, b) in bigrams if b == w) for w in predictable}  # N1+(. w)
    total_cont = sum(n_cont.values())
    seen_types = sum(1 for w in predictable if n_cont[w] > 0)

    def p_uni(w):
        return max(n_cont[w] - d, 0) / total_cont + d * seen_types / total_cont / len(predictable)

    def p_bi(v, w):
        c_v = sum(c for (a, _), c in bigrams.items() if a == v)
        if c_v == 0:
            return p_uni(w)
        types_v = sum(1 for (a, _) in bigrams if a == v)
        return max(bigrams.get((v, w), 0) - d, 0) / c_v + d * types_v / c_v * p_uni(w)

    for v in [BOS, 3, 4, 5, 6]:
        for w in predictable:
            hist = [] if v == BOS else [v]
            assert math.isclose(lm.prob(hist, w), p_bi(v, w), rel_tol=1e-12), (v, w)


def test_trigram_by_hand():
    """Order 3, counted by hand. Sentences 3 4 / 3 4 / 3 5 / 6 3 4, padded <s> <s> ... </s> (E).

    Order 3 (plain counts): (<s> 3 4) 2, (<s> 3 5) 1, so c(<s> 3 .) = 3 with 2 types.
    Order 2: (3 4) follows <s> and 6, continuation count 2; (3 5) follows <s>, 1. But
    (<s> 3) keeps its plain count 3 (nothing precedes the start).
    Order 1: the bigram types are (<s> 3) (<s> 6) (3 4) (4 E) (3 5) (5 E) (6 3); the
    continuation counts are 3: 2, 4: 1, 5: 1, 6: 1, E: 2, total 7 over 5 types.
    """
    lm = NgramLM.train([[3, 4], [3, 4], [3, 5], [6, 3, 4]], order=3, vocab_size=V)
    d = lm.discount
    assert lm._count[2][(BOS, 3)] == 3 and lm._count[2][(3, 4)] == 2
    p1 = (1 - d) / 7 + d * 5 / 7 * (1 / 7)  # 7 predictable tokens: <unk>, 3..7, </s>
    p2 = (2 - d) / 3 + d * 2 / 3 * p1  # P(4 | 3): (3 4) 2, (3 5) 1
    p3 = (2 - d) / 3 + d * 2 / 3 * p2  # P(4 | <s> 3)
    assert math.isclose(lm.prob([3], 4), p3, rel_tol=1e-12)
    # The history (4, 3) never occurred: P(4 | 4 3) = P(4 | 3) from the bigram level.
    assert math.isclose(lm.prob([4, 3], 4), p2, rel_tol=1e-12)


def test_lm_prefers_its_training_text():
    sents = [[3, 4, 5, 6]] * 20 + random_sentences(2, n=20)
    lm = NgramLM.train(sents, order=4, vocab_size=V)
    assert lm.sentence_logprob([3, 4, 5, 6]) > lm.sentence_logprob([6, 5, 4, 3]) + 5
    assert lm.perplexity([[3, 4, 5, 6]]) < lm.perplexity([[6, 5, 4, 3]])


def test_save_load_roundtrip_and_errors(tmp_path):
    lm = NgramLM.train(random_sentences(3), order=3, vocab_size=V, tokenizer_json='{"type": "char"}')
    path = tmp_path / "lm.json"
    lm.save(path)
    back = load_lm(path)
    assert back.order == 3 and back.counts == lm.counts and back.tokenizer_json == lm.tokenizer_json
    for h, w in [([], 3), ([3, 4], 5), ([7], back.eos)]:
        assert back.logprob(h, w) == lm.logprob(h, w)
    back.check_tokenizer('{"type": "char"}')
    with pytest.raises(ValueError, match="another tokenizer"):
        back.check_tokenizer('{"type": "bpe"}')
    with pytest.raises(FileNotFoundError, match="train_lm.py"):
        load_lm(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("not json")
    with pytest.raises(ValueError, match="not JSON"):
        NgramLM.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "arpa"}))
    with pytest.raises(ValueError, match="format"):
        NgramLM.load(tmp_path / "other.json")


def test_bad_tokens_and_settings():
    with pytest.raises(ValueError, match="not a text token"):
        NgramLM.train([[3, 0]], order=2, vocab_size=V)  # blank
    with pytest.raises(ValueError, match="not a text token"):
        NgramLM.train([[3, BOS]], order=2, vocab_size=V)
    with pytest.raises(ValueError, match="no training sentences"):
        NgramLM.train([], order=2, vocab_size=V)
    with pytest.raises(ValueError, match="discount"):
        NgramLM.train([[3]], order=2, vocab_size=V, discount=1.0)
    lm = NgramLM.train([[3]], order=2, vocab_size=V)
    with pytest.raises(ValueError, match="no LM probability"):
        lm.prob([3], 0)
