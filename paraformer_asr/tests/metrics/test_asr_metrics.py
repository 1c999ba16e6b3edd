import pytest

from src.metrics.asr_metrics import ASRMetrics, cer, edit_counts, sequence_accuracy, token_accuracy, wer


def test_identical_and_empty():
    c = edit_counts("abc", "abc")
    assert (c.substitutions, c.deletions, c.insertions, c.ref_len) == (0, 0, 0, 3)
    c = edit_counts("abc", "")
    assert (c.substitutions, c.deletions, c.insertions) == (0, 3, 0)
    c = edit_counts("", "ab")
    assert (c.substitutions, c.deletions, c.insertions) == (0, 0, 2)


def test_hand_computed_sdi():
    # kitten -> sitting: k->s (S), e->i (S), +g (I)
    c = edit_counts("kitten", "sitting")
    assert (c.substitutions, c.deletions, c.insertions) == (2, 0, 1)
    # hello -> helo: one l deleted
    c = edit_counts("hello", "helo")
    assert (c.substitutions, c.deletions, c.insertions) == (0, 1, 0)
    # abcd -> xbcde: a->x (S), +e (I)
    c = edit_counts("abcd", "xbcde")
    assert (c.substitutions, c.deletions, c.insertions) == (1, 0, 1)


def test_rates():
    assert cer("kitten", "sitting") == pytest.approx(3 / 6)
    assert wer("the cat sat", "the bat sat down") == pytest.approx(2 / 3)  # 1 S + 1 I over 3 words
    assert token_accuracy("hello", "helo") == pytest.approx(4 / 5)
    assert token_accuracy("abcd", "xbcde") == pytest.approx(3 / 4)  # insertions do not count
    assert sequence_accuracy(["ab", "cd", "ef"], ["ab", "cx", "ef"]) == pytest.approx(2 / 3)


def test_accumulator_is_corpus_level():
    m = ASRMetrics()
    m.update("hello world", "hello world")
    m.update("ab", "b")  # 1 deletion over 2 chars; 1 word substituted
    out = m.compute()
    assert out["cer"] == pytest.approx(1 / 13)
    assert out["token_accuracy"] == pytest.approx(12 / 13)
    assert out["wer"] == pytest.approx(1 / 3)
    assert out["sequence_accuracy"] == pytest.approx(0.5)
    assert out["num_utterances"] == 2
    assert (out["cer_sub"], out["cer_del"], out["cer_ins"]) == (0.0, pytest.approx(1 / 13), 0.0)


def test_error_kinds_add_up_to_the_cer():
    m = ASRMetrics()
    m.update("abcd", "axd")  # one substitution and one deletion (either b or c is the deleted one)
    m.update("ef", "efgh")  # two insertions
    out = m.compute()
    assert (out["cer_sub"], out["cer_del"], out["cer_ins"]) == (pytest.approx(1 / 6), pytest.approx(1 / 6), pytest.approx(2 / 6))
    assert out["cer_sub"] + out["cer_del"] + out["cer_ins"] == pytest.approx(out["cer"])
