"""A token n-gram language model with interpolated Kneser-Ney smoothing, for shallow fusion.

The model's tokens (characters, or BPE pieces) are the LM's words, so its scores add
directly to the CTC prefix beam search (src/decode/ctc_prefix_beam.py). A sentence
``w_1 .. w_m`` is scored as ``sum_i log P(w_i | h_i) + log P(</s> | h_{m+1})``, where the
history ``h_i`` is the previous ``n - 1`` tokens, padded on the left with ``<s>``.

Interpolated Kneser-Ney (Chen & Goodman 1998, eq. 6), one absolute discount ``D``:

    P(w | h) = max(c(h w) - D, 0) / c(h .)  +  D * N1+(h .) / c(h .) * P(w | h')

``h'`` is ``h`` without its oldest token, ``c(h .)`` sums ``c(h w)`` over w and
``N1+(h .)`` counts the distinct w seen after h. A history never seen (c(h .) = 0)
backs off entirely: ``P(w | h) = P(w | h')``. Below the highest order, ``c`` is the
*continuation* count ``N1+(. h w)``, the number of distinct tokens seen before ``h w``:
a lower order is only consulted when the longer history is rare, and then what matters
is in how many contexts a token occurs, not how often (``francisco`` is frequent but
follows only ``san``). n-grams that begin with ``<s>`` keep their plain counts, since
nothing precedes the sentence start. The recursion ends in the uniform distribution over
the predictable tokens (every token but blank and ``<s>``, plus ``</s>``), so every token
has a probability above zero and, for each history, they sum to one (tested).

The model is saved as JSON (counts only; plus the tokenizer it was built for, so it is
never fused with a model whose ids mean other characters).
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from src.decode.hypothesis import SOS_EOS_ID

BOS = SOS_EOS_ID  # <s>: the history padding before the first token
FORMAT = "ngram-lm-kn-v1"
CACHE_SIZE = 1_000_000  # memoised log-probabilities (a few hundred MB at most)


class NgramLM:
    """``P(token | previous order-1 tokens)`` over a tokenizer's ids, interpolated Kneser-Ney."""

    def __init__(self, order: int, vocab_size: int, counts: dict[tuple[int, ...], int], *, discount: float = 0.75,
                 tokenizer_json: str = "") -> None:  # fmt: skip
        """``counts``: the highest-order counts ``c(h w)``, keyed by ``h + (w,)`` with ``len(h) = order - 1``."""
        if order < 1:
            raise ValueError(f"n-gram order {order} must be >= 1")
        if not 0.0 < discount < 1.0:
            raise ValueError(f"Kneser-Ney discount {discount} must be in (0, 1)")
        self.order, self.vocab_size, self.discount, self.tokenizer_json = order, vocab_size, discount, tokenizer_json
        self.counts = counts
        self.eos = vocab_size  # </s>: one id past the tokenizer's, so it never clashes with <s> (= <sos/eos>)
        self.num_predictable = vocab_size - 2 + 1  # <unk> and the text tokens, plus </s>
        # self._count[k]: the counts used at order k (a history of k - 1 tokens). The plain
        # counts c(h w) at the highest order; below it the continuation counts N1+(. h w),
        # except for n-grams that begin with <s>, which keep their plain counts.
        self._count: list[dict[tuple[int, ...], int]] = [{} for _ in range(order + 1)]
        self._count[order] = dict(counts)
        for k in range(order - 1, 0, -1):
            lower: dict[tuple[int, ...], int] = defaultdict(int)
            for gram in self._count[k + 1]:  # each stored (k+1)-gram occurred: gram[0] is one distinct predecessor
                lower[gram[1:]] += 1
            plain: dict[tuple[int, ...], int] = defaultdict(int)
            for gram, c in counts.items():  # a <s>-initial k-gram ends an n-gram padded with more <s>
                tail = gram[order - k :]
                if k > 1 and tail[0] == BOS:
                    plain[tail] += c
            lower.update(plain)
            self._count[k] = dict(lower)
        self._total: list[dict[tuple[int, ...], int]] = [defaultdict(int) for _ in range(order + 1)]
        self._types: list[dict[tuple[int, ...], int]] = [defaultdict(int) for _ in range(order + 1)]
        for k in range(1, order + 1):
            for gram, c in self._count[k].items():
                self._total[k][gram[:-1]] += c
                self._types[k][gram[:-1]] += 1
        self._cache: dict[tuple[int, ...], float] = {}

    # ---------------------------------------------------------------- scoring
    def _history(self, history: Sequence[int]) -> tuple[int, ...]:
        """The last order-1 tokens of ``history``, left-padded with <s>."""
        n = self.order - 1
        h = tuple(history)[-n:] if n > 0 else ()
        return (BOS,) * (n - len(h)) + h

    def prob(self, history: Sequence[int], token: int) -> float:
        """P(token | history); ``history`` may be any length (only the last order-1 tokens count)."""
        return self._prob(self._history(history), token)

    def logprob(self, history: Sequence[int], token: int) -> float:
        """Natural log of ``prob``, memoised (the beam search asks for the same few histories often)."""
        key = self._history(history) + (token,)
        value = self._cache.get(key)
        if value is None:
            if len(self._cache) >= CACHE_SIZE:  # a long-running service must not grow without bound
                self._cache.clear()
            value = self._cache[key] = math.log(self._prob(key[:-1], token))
        return value

    def _prob(self, h: tuple[int, ...], w: int) -> float:
        if not (2 <= w < self.vocab_size or w == self.eos):
            raise ValueError(f"token id {w} has no LM probability: the LM predicts <unk> (2), the text tokens "
                             f"(3..{self.vocab_size - 1}) and </s> (lm.eos = {self.eos})")  # fmt: skip
        p = 1.0 / self.num_predictable  # order 0: uniform
        for k in range(1, self.order + 1):  # history length k - 1, from the shortest up
            hk = h[len(h) - (k - 1):] if k > 1 else ()
            total = self._total[k].get(hk, 0)
            if total == 0:
                continue  # unseen history: P(w | hk) = P(w | shorter history)
            c = self._count[k].get(hk + (w,), 0)
            p = max(c - self.discount, 0.0) / total + self.discount * self._types[k][hk] / total * p
        return p

    def sentence_logprob(self, tokens: Sequence[int]) -> float:
        """log P(tokens </s>)."""
        tokens = list(tokens)
        return sum(self.logprob(tokens[:i], t) for i, t in enumerate(tokens)) + self.logprob(tokens, self.eos)

    def perplexity(self, sentences: Iterable[Sequence[int]]) -> float:
        """exp(-mean log-probability per predicted token, </s> included)."""
        total, n = 0.0, 0
        for s in sentences:
            total += self.sentence_logprob(s)
            n += len(s) + 1
        if n == 0:
            raise ValueError("perplexity of no sentences")
        return math.exp(-total / n)

    # ---------------------------------------------------------------- building
    @classmethod
    def train(cls, sentences: Iterable[Sequence[int]], *, order: int, vocab_size: int, discount: float = 0.75,
              tokenizer_json: str = "") -> NgramLM:  # fmt: skip
        """Count the order-n grams of ``sentences`` (token-id lists without specials)."""
        counts: dict[tuple[int, ...], int] = defaultdict(int)
        n_sentences = 0
        for s in sentences:
            ids = list(s)
            for t in ids:
                if not 2 <= t < vocab_size:
                    raise ValueError(f"token id {t} is not a text token of a vocabulary of {vocab_size}")
            padded = [BOS] * (order - 1) + ids + [vocab_size]  # </s> = vocab_size
            for i in range(order - 1, len(padded)):
                counts[tuple(padded[i - order + 1 : i + 1])] += 1
            n_sentences += 1
        if n_sentences == 0:
            raise ValueError("no training sentences for the LM: pass a manifest or a text file with transcripts")
        return cls(order, vocab_size, dict(counts), discount=discount, tokenizer_json=tokenizer_json)

    def check_tokenizer(self, tokenizer_json: str) -> None:
        """Raise ValueError unless this LM was built for the tokenizer ``tokenizer_json``."""
        if self.tokenizer_json != tokenizer_json:
            raise ValueError(
                "this LM was built for another tokenizer than the model's (its token ids mean other units); "
                "rebuild it with scripts/train_lm.py --checkpoint <this model's checkpoint>"
            )

    # ---------------------------------------------------------------- files
    def save(self, path: str | Path) -> None:
        """Atomic JSON write: counts, order, discount, vocab size, tokenizer."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "format": FORMAT, "order": self.order, "vocab_size": self.vocab_size, "discount": self.discount,
            "tokenizer": self.tokenizer_json, "ngrams": [list(g) + [c] for g, c in sorted(self.counts.items())],
        }  # fmt: skip
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> NgramLM:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"LM file {path} does not exist; build one with scripts/train_lm.py")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path} is not an LM written by scripts/train_lm.py (not JSON: {e})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{path} is not an LM written by scripts/train_lm.py (format is not {FORMAT!r})")
        order = int(data["order"])
        counts = {tuple(int(x) for x in row[:-1]): int(row[-1]) for row in data["ngrams"]}
        if any(len(g) != order for g in counts):
            raise ValueError(f"{path}: every n-gram must have {order} tokens")
        return cls(order, int(data["vocab_size"]), counts, discount=float(data["discount"]), tokenizer_json=data["tokenizer"])


def load_lm(path: str | Path) -> NgramLM:
    """``NgramLM.load``, cached per file and modification time (the service loads it once)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"decode.lm_path: LM file {path} does not exist; build one with scripts/train_lm.py")
    return _load_cached(str(path.resolve()), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int) -> NgramLM:
    return NgramLM.load(path)
