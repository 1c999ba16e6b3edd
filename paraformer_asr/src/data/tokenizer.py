"""Character tokenizer with three specials.

Ids 0..2 are fixed across the project (the models and the CTC loss rely on them):
``<blank>`` = 0 is the CTC blank and also the padding id, ``<sos/eos>`` = 1 starts
and ends autoregressive decoding, ``<unk>`` = 2 stands for any character outside
the vocabulary. Characters follow from id 3 in sorted order, so the same set of
characters always gives the same ids. The tokenizer is saved as JSON in every
checkpoint, so a model is never decoded with a different vocabulary.
"""

from __future__ import annotations

import json
import string
from collections import Counter
from collections.abc import Iterable

BLANK_ID = 0
SOS_EOS_ID = 1
UNK_ID = 2
SPECIALS = ("<blank>", "<sos/eos>", "<unk>")

# a-z, space and apostrophe: enough for the toy task and for normalised English transcripts.
DEFAULT_ALPHABET = string.ascii_lowercase + " '"


class CharTokenizer:
    """Maps text to character ids and back; specials are never produced by ``encode``."""

    def __init__(self, chars: Iterable[str]) -> None:
        chars = sorted(set(chars))
        for c in chars:
            if len(c) != 1:
                raise ValueError(f"tokenizer entries must be single characters, got {c!r}")
        self.chars: list[str] = chars
        self.id_to_token: list[str] = list(SPECIALS) + chars
        self.token_to_id: dict[str, int] = {c: i for i, c in enumerate(self.id_to_token) if i >= len(SPECIALS)}

    @classmethod
    def from_alphabet(cls, alphabet: str = DEFAULT_ALPHABET) -> CharTokenizer:
        """Fixed vocabulary: a-z, space and apostrophe unless another alphabet is given."""
        return cls(alphabet)

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1) -> CharTokenizer:
        """Vocabulary of the characters that occur at least ``min_count`` times in ``texts``.

        Any script works (a Mandarin corpus gives a few thousand characters). Rarer
        characters become ``<unk>``: with min_count > 1 the model also learns to emit
        ``<unk>`` instead of spreading a handful of examples over many output units.
        """
        if min_count < 1:
            raise ValueError(f"data.char_min_count={min_count} must be >= 1")
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(text)
        kept = {c for c, n in counts.items() if n >= min_count}
        if not kept:
            raise ValueError(
                f"CharTokenizer.build kept no characters ({len(counts)} distinct, none seen {min_count}+ times); "
                "pass the training transcripts or lower data.char_min_count"
            )
        return cls(kept)

    @property
    def vocab_size(self) -> int:
        """V, including the three specials."""
        return len(self.id_to_token)

    def covers(self, char: str) -> bool:
        """True if ``char`` has its own id (else it encodes to ``<unk>``)."""
        return char in self.token_to_id

    def encode(self, text: str) -> list[int]:
        """Character ids; characters outside the vocabulary become ``<unk>``."""
        return [self.token_to_id.get(c, UNK_ID) for c in text]

    def decode(self, ids: Iterable[int]) -> str:
        """Text from ids; blank/padding, sos/eos and unk are skipped."""
        out = []
        for i in ids:
            i = int(i)
            if i < len(SPECIALS):
                continue
            if i >= self.vocab_size:
                raise ValueError(f"token id {i} is outside the vocabulary (size {self.vocab_size})")
            out.append(self.id_to_token[i])
        return "".join(out)

    def to_json(self) -> str:
        return json.dumps({"type": "char", "specials": list(SPECIALS), "chars": self.chars})

    @classmethod
    def from_json(cls, text: str) -> CharTokenizer:
        data = json.loads(text)
        if data.get("type") != "char" or data.get("specials") != list(SPECIALS):
            raise ValueError(f"not a CharTokenizer JSON with specials {SPECIALS}: {text[:80]!r}")
        return cls(data["chars"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharTokenizer) and self.chars == other.chars

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
