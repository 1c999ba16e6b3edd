"""Byte-level byte-pair encoding (BPE), trained on the training manifest's transcripts.

BPE (Sennrich et al., 2016, "Neural Machine Translation of Rare Words with Subword
Units", Algorithm 1) starts from single symbols and repeatedly merges the most
frequent adjacent pair into a new symbol, until the vocabulary has the requested size.
Frequent words become one token, rare ones fall apart into pieces, and nothing is
ever out of vocabulary.

Symbols here are UTF-8 *bytes* (as in GPT-2's byte-level BPE), not characters: the
256 byte tokens spell any Unicode text, so ``decode(encode(text)) == text`` for every
string, including scripts never seen in training. A Mandarin character is 3 bytes,
and frequent ones are merged back into one token by training.

Pre-tokenisation: merges never cross a word boundary. Text is cut into pieces
``" ?[^ ]+"`` (a word with the single space before it) and runs of extra spaces, so a
word at the start of a transcript and the same word after a space are different
pieces (``"the"``, ``" the"``), as in GPT-2. Concatenating the pieces gives the text
back exactly.

Ties (two pairs equally frequent) go to the pair whose (left bytes, right bytes) is
smallest, so training is deterministic and the hand-worked example in the tests has a
unique answer.

Ids: 0..2 are the project's specials (``<blank>``, ``<sos/eos>``, ``<unk>``), 3..258
the bytes 0..255, then one id per merge in the order it was learned; ``vocab_size`` =
3 + 256 + number of merges.
"""

from __future__ import annotations

import heapq
import json
import re
import warnings
from collections import Counter
from collections.abc import Iterable

from tqdm import tqdm

from src.data.tokenizer import SPECIALS

_PIECE = re.compile(r" ?[^ ]+| +")
NUM_BYTES = 256
FIRST_BYTE_ID = len(SPECIALS)  # id of byte 0
MIN_VOCAB_SIZE = len(SPECIALS) + NUM_BYTES


def pretokenize(text: str) -> list[str]:
    """Pieces that merges may not cross; ``"".join(pretokenize(t)) == t``."""
    return _PIECE.findall(text)


def learn_merges(piece_counts: dict[bytes, int], num_merges: int, *, progress: bool = False) -> list[tuple[bytes, bytes]]:
    """Sennrich's algorithm on byte strings with their frequencies.

    Args:
        piece_counts: each pre-tokenised piece (UTF-8 bytes) and how often it occurs.
        num_merges: at most this many merges (fewer when every piece is one symbol).
    Returns:
        The merges in the order learned, each as (left symbol, right symbol) bytes.

    Incremental counting: ``pair_counts[p]`` is the corpus frequency of adjacent pair p
    and ``where[p]`` the pieces that contain it, so a merge only re-counts the pieces
    it touches instead of the whole corpus. The most frequent pair comes from a heap of
    ``(-count, left, right)`` whose stale entries (counts that changed since the push)
    are skipped when popped; its order is exactly the tie rule.
    """
    words = [[bytes([b]) for b in piece] for piece in piece_counts]  # symbols of each distinct piece
    freqs = list(piece_counts.values())
    pair_counts: Counter[tuple[bytes, bytes]] = Counter()
    where: dict[tuple[bytes, bytes], set[int]] = {}
    for w, symbols in enumerate(words):
        for pair in zip(symbols, symbols[1:]):
            pair_counts[pair] += freqs[w]
            where.setdefault(pair, set()).add(w)
    heap = [(-c, a, b) for (a, b), c in pair_counts.items()]
    heapq.heapify(heap)
    merges: list[tuple[bytes, bytes]] = []
    for _ in tqdm(range(num_merges), desc="BPE merges", disable=not progress, leave=False):
        best = None
        while heap:
            neg, a, b = heapq.heappop(heap)
            if pair_counts.get((a, b)) == -neg:  # else stale: the count changed after this push
                best = (a, b)
                break
        if best is None:
            break
        merges.append(best)
        touched: set[tuple[bytes, bytes]] = set()
        merged = best[0] + best[1]
        for w in where.pop(best):
            symbols = words[w]
            for pair in zip(symbols, symbols[1:]):  # take this piece's pairs out ...
                touched.add(pair)
                pair_counts[pair] -= freqs[w]
                if pair_counts[pair] <= 0:
                    del pair_counts[pair]
                if pair != best and pair in where:
                    where[pair].discard(w)
            out, i = [], 0
            while i < len(symbols):  # left to right, non-overlapping: "aaa" -> "aa" "a"
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(merged)
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            words[w] = out
            for pair in zip(out, out[1:]):  # ... and put the merged piece's pairs back
                touched.add(pair)
                pair_counts[pair] += freqs[w]
                where.setdefault(pair, set()).add(w)
        for pair in touched - {best}:
            if pair in pair_counts:
                heapq.heappush(heap, (-pair_counts[pair], *pair))
    return merges


class BPETokenizer:
    """Byte-level BPE with the project's three specials; ``encode`` never produces a special."""

    def __init__(self, merges: Iterable[tuple[bytes, bytes]]) -> None:
        self.merges: list[tuple[bytes, bytes]] = [(bytes(a), bytes(b)) for a, b in merges]
        self.token_bytes: list[bytes] = [b""] * len(SPECIALS) + [bytes([i]) for i in range(NUM_BYTES)]
        self.bytes_to_id: dict[bytes, int] = {bytes([i]): FIRST_BYTE_ID + i for i in range(NUM_BYTES)}
        self.ranks: dict[tuple[bytes, bytes], int] = {}
        for rank, (a, b) in enumerate(self.merges):
            if a not in self.bytes_to_id or b not in self.bytes_to_id:
                raise ValueError(f"BPE merge {rank} ({a!r}, {b!r}) uses a symbol no earlier merge made")
            if a + b in self.bytes_to_id:
                raise ValueError(f"BPE merge {rank} makes {a + b!r}, which is already a token")
            self.ranks[(a, b)] = rank
            self.bytes_to_id[a + b] = len(self.token_bytes)
            self.token_bytes.append(a + b)
        # Display strings (timestamps, the service's token list); a piece of a multi-byte
        # character has no string of its own and is shown as <0xE4>.
        self.id_to_token: list[str] = list(SPECIALS) + [self._show(t) for t in self.token_bytes[len(SPECIALS):]]
        self._cache: dict[str, list[int]] = {}

    @staticmethod
    def _show(token: bytes) -> str:
        try:
            return token.decode("utf-8")
        except UnicodeDecodeError:
            return "".join(f"<0x{b:02X}>" for b in token)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, *, progress: bool = False) -> BPETokenizer:
        """Learn ``vocab_size - 259`` merges from ``texts`` (e.g. the training transcripts)."""
        if vocab_size < MIN_VOCAB_SIZE:
            raise ValueError(
                f"data.bpe_vocab_size={vocab_size} is too small: byte-level BPE needs {len(SPECIALS)} specials + "
                f"{NUM_BYTES} bytes = {MIN_VOCAB_SIZE} ids before its first merge; use e.g. 500"
            )
        counts: Counter[bytes] = Counter()
        for text in texts:
            counts.update(p.encode("utf-8") for p in pretokenize(text))
        if not counts:
            raise ValueError("BPETokenizer.train got no text; pass the training transcripts")
        merges = learn_merges(dict(counts), vocab_size - MIN_VOCAB_SIZE, progress=progress)
        if len(merges) < vocab_size - MIN_VOCAB_SIZE:
            warnings.warn(
                f"BPE: the text allows only {len(merges)} merges, so the vocabulary has {MIN_VOCAB_SIZE + len(merges)} "
                f"ids, not data.bpe_vocab_size={vocab_size} (every word is already one token)",
                stacklevel=2,
            )
        return cls(merges)

    @property
    def vocab_size(self) -> int:
        """V, including the three specials."""
        return len(self.token_bytes)

    def covers(self, char: str) -> bool:
        """Every character has a spelling in bytes."""
        return True

    def _encode_piece(self, piece: str) -> list[int]:
        ids = self._cache.get(piece)
        if ids is not None:
            return ids
        symbols = [bytes([b]) for b in piece.encode("utf-8")]
        # Apply the learned merges in the order they were learned (lowest rank first),
        # which reproduces exactly the segmentation training arrived at.
        while len(symbols) > 1:
            pairs = [(self.ranks.get(p, len(self.ranks)), i) for i, p in enumerate(zip(symbols, symbols[1:]))]
            rank, _ = min(pairs)
            if rank == len(self.ranks):
                break
            pair = self.merges[rank]
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
                    out.append(pair[0] + pair[1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            symbols = out
        ids = [self.bytes_to_id[s] for s in symbols]
        if len(self._cache) < 100_000:
            self._cache[piece] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; exact for any Unicode string."""
        return [i for piece in pretokenize(text) for i in self._encode_piece(piece)]

    def decode(self, ids: Iterable[int]) -> str:
        """Text from ids; specials are skipped. A model may emit an incomplete multi-byte
        sequence; it becomes U+FFFD rather than an exception."""
        out = bytearray()
        for i in ids:
            i = int(i)
            if i < len(SPECIALS):
                continue
            if i >= self.vocab_size:
                raise ValueError(f"token id {i} is outside the vocabulary (size {self.vocab_size})")
            out += self.token_bytes[i]
        return out.decode("utf-8", errors="replace")

    def to_json(self) -> str:
        # Bytes as latin-1 strings: one code point per byte, so JSON holds them losslessly.
        merges = [[a.decode("latin-1"), b.decode("latin-1")] for a, b in self.merges]
        return json.dumps({"type": "bpe", "specials": list(SPECIALS), "merges": merges})

    @classmethod
    def from_json(cls, text: str) -> BPETokenizer:
        data = json.loads(text)
        if data.get("type") != "bpe" or data.get("specials") != list(SPECIALS):
            raise ValueError(f"not a BPETokenizer JSON with specials {SPECIALS}: {text[:80]!r}")
        return cls((a.encode("latin-1"), b.encode("latin-1")) for a, b in data["merges"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BPETokenizer) and self.merges == other.merges

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)})"
