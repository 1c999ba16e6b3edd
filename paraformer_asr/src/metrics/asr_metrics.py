"""Edit-distance metrics: CER, WER, token accuracy, sequence accuracy.

The Levenshtein table gives the minimum number of edits; a backtrace through it
splits that number into substitutions S, deletions D (reference tokens missing
from the hypothesis) and insertions I (extra hypothesis tokens). With N reference
tokens:

    error rate     = (S + D + I) / N      (CER on characters, WER on words)
    token_accuracy = (N - S - D) / N      (reference tokens recognised; ignores insertions)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class EditCounts:
    """Alignment counts between one reference and one hypothesis."""

    substitutions: int
    deletions: int
    insertions: int
    ref_len: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def hits(self) -> int:
        return self.ref_len - self.substitutions - self.deletions


def edit_counts(ref: Sequence, hyp: Sequence) -> EditCounts:
    """Minimum-edit alignment of ``hyp`` to ``ref`` with S/D/I counts.

    Ties in the backtrace prefer a match/substitution, then a deletion, then an
    insertion, so equal-cost alignments are always counted the same way.
    """
    n, m = len(ref), len(hyp)
    # dist[i][j] = edits to turn ref[:i] into hyp[:j]
    dist = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        dist[i][0] = i
    for j in range(1, m + 1):
        dist[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            diag = dist[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1])
            dist[i][j] = min(diag, dist[i - 1][j] + 1, dist[i][j - 1] + 1)
    s = d = ins = 0
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and dist[i][j] == dist[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            s += ref[i - 1] != hyp[j - 1]
            i, j = i - 1, j - 1
        elif i > 0 and dist[i][j] == dist[i - 1][j] + 1:
            d += 1
            i -= 1
        else:
            ins += 1
            j -= 1
    return EditCounts(substitutions=int(s), deletions=d, insertions=ins, ref_len=n)


def cer(ref: str, hyp: str) -> float:
    """Character error rate of one pair (edits / reference characters)."""
    c = edit_counts(ref, hyp)
    return c.errors / max(c.ref_len, 1)


def wer(ref: str, hyp: str) -> float:
    """Word error rate of one pair (words split on whitespace)."""
    c = edit_counts(ref.split(), hyp.split())
    return c.errors / max(c.ref_len, 1)


def token_accuracy(ref: Sequence, hyp: Sequence) -> float:
    """(N - S - D) / N for one pair."""
    c = edit_counts(ref, hyp)
    return c.hits / max(c.ref_len, 1)


def sequence_accuracy(refs: Sequence[Sequence], hyps: Sequence[Sequence]) -> float:
    """Fraction of hypotheses that equal their reference exactly."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    return sum(list(r) == list(h) for r, h in zip(refs, hyps)) / max(len(refs), 1)


class ASRMetrics:
    """Accumulates corpus-level counts over many utterances.

    Rates are totals over the corpus (sum of errors / sum of reference lengths),
    not averages of per-utterance rates, so long utterances weigh more, as in
    the usual CER/WER definitions.
    """

    def __init__(self) -> None:
        self.char = EditCounts(0, 0, 0, 0)
        self.word = EditCounts(0, 0, 0, 0)
        self.num_utterances = 0
        self.num_exact = 0

    @staticmethod
    def _add(a: EditCounts, b: EditCounts) -> EditCounts:
        return EditCounts(
            a.substitutions + b.substitutions, a.deletions + b.deletions, a.insertions + b.insertions, a.ref_len + b.ref_len
        )

    def update(self, ref: str, hyp: str) -> EditCounts:
        """Add one utterance; returns its character-level counts."""
        c = edit_counts(ref, hyp)
        self.char = self._add(self.char, c)
        self.word = self._add(self.word, edit_counts(ref.split(), hyp.split()))
        self.num_utterances += 1
        self.num_exact += ref == hyp
        return c

    def compute(self) -> dict[str, float]:
        """``cer, wer, token_accuracy, sequence_accuracy, num_utterances`` (token = character here),
        and the CER split by kind, ``cer_sub + cer_del + cer_ins = cer`` (each per reference character)."""
        n = max(self.char.ref_len, 1)
        return {
            "cer": self.char.errors / n,
            "cer_sub": self.char.substitutions / n,
            "cer_del": self.char.deletions / n,
            "cer_ins": self.char.insertions / n,
            "wer": self.word.errors / max(self.word.ref_len, 1),
            "token_accuracy": self.char.hits / max(self.char.ref_len, 1),
            "sequence_accuracy": self.num_exact / max(self.num_utterances, 1),
            "num_utterances": self.num_utterances,
        }
