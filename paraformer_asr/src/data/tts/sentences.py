"""Natural English sentences for the speech corpus, from Debian's ``fortunes`` package.

``fortunes`` (BSD licence, see /usr/share/doc/fortunes/copyright) ships about 2.8 MB
of quotations, proverbs, jokes and literature snippets as plain text, one "cookie"
per ``%``-separated block. We cut every cookie into sentences and keep those that
normalise cleanly to the tokenizer's alphabet (a-z, space, apostrophe) with 3-20
words; see :func:`normalise_sentence` for what is rejected and why. The files
listed in :data:`FORTUNE_FILES` are the ones without code, ASCII art, Usenet
in-jokes or jokes about groups of people.

Each sentence belongs to one *text pool* by a hash of its text (:func:`text_pool`),
never by a draw from the seed: a sentence in the ``dev``, ``test``, ``test_unseen_engine`` or
``ood`` pool is therefore absent from *every* training split, whatever ``--seed`` and
``--n`` built it, and the out-of-domain set (scripts/make_ood_speech.py) can be
built separately without ever repeating a training sentence.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path

FORTUNES_DIR = Path("/usr/share/games/fortunes")
FORTUNE_FILES = (
    "cookie", "education", "food", "fortunes", "goedel", "humorists", "kids", "law", "literature",
    "love", "magic", "medicine", "miscellaneous", "news", "paradoxum", "people", "pets", "platitudes",
    "politics", "riddles", "science", "songs-poems", "sports", "wisdom", "work",
)  # fmt: skip
FORTUNES_HINT = (
    "the sentence source is Debian's 'fortunes' package, which is not installed; install it with\n"
    "  sudo apt-get install fortunes\n"
    "(or pass --text wordlist for the old 267-word list)"
)
WORDS_PER_SENTENCE = (3, 20)

# Share of the distinct sentences in each pool (by hash, see text_pool).
POOL_SHARES = (("train", 0.80), ("dev", 0.05), ("test", 0.05), ("test_unseen_engine", 0.05), ("ood", 0.05))

# Abbreviations whose full stop is not a sentence end; the TTS engines read them as these words.
ABBREVIATIONS = {
    "mr.": "mister", "mrs.": "missus", "dr.": "doctor", "vs.": "versus",
    "etc.": "et cetera", "e.g.": "for example", "i.e.": "that is", "jr.": "junior", "sr.": "senior",
    "mt.": "mount",
}  # fmt: skip
# "St." (saint or street) and "No." (number, or the word no) are ambiguous, so they are not listed.
ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
# Characters that mark code, markup, maths, tables or e-mail headers: such a sentence is dropped.
REJECT_CHARS = set("@#$%^&*_=+<>[]{}|\\/~`0123456789\x00")  # digits are spelled out before this check


class SentenceSourceMissingError(RuntimeError):
    """The ``fortunes`` package is not installed; the message gives the install command."""


def number_words(n: int) -> str:
    """0 <= n < 10**6 spelled out as a cardinal ("one hundred twenty three")."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        return ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_words(n % 100))
    if n < 10**6:
        return number_words(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + number_words(n % 1000))
    raise ValueError(f"number_words supports 0 <= n < 10**6, got {n}")


ABBREVIATION_RE = re.compile(r"\b(" + "|".join(re.escape(a) for a in ABBREVIATIONS) + ")", re.IGNORECASE)
ACRONYM_OR_GLUED_NUMBER_RE = re.compile(r"\b[A-Z]{2,}\b|\d[.,:]\d|\d[a-zA-Z]|[a-zA-Z]\d")
DIGITS_RE = re.compile(r"\d+")
DASHES_RE = re.compile(r"[-\u2013\u2014]+")
OUTSIDE_ALPHABET_RE = re.compile(r"[^a-z' ]")
SENTENCE_END_RE = re.compile(r"(?<=[.!?])[\"')]*\s+")
QA_PREFIX_RE = re.compile(r"^\s*[QA]:\s*")


def _digits_to_words(match: re.Match[str]) -> str:
    return " " + number_words(int(match.group(0))) + " "


def normalise_sentence(raw: str, words_range: tuple[int, int] = WORDS_PER_SENTENCE) -> str | None:
    """The sentence in the tokenizer's alphabet, or None when it cannot be said faithfully.

    Lowercase; curly apostrophes to ``'``; hyphens and dashes to spaces; whole numbers
    below a million spelled out (the engines then speak exactly the transcript);
    other punctuation removed. Rejected: code/markup characters, decimals and
    numbers glued to letters ("3rd", "1.5"), all-capital words of two or more
    letters (acronyms: an engine spells "IBM" out, so audio and transcript would
    disagree), non-ASCII letters, and anything outside ``words_range`` words.
    """
    s = raw.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    if not s.isascii() or ACRONYM_OR_GLUED_NUMBER_RE.search(s):
        return None
    s = ABBREVIATION_RE.sub(lambda m: ABBREVIATIONS[m.group(0).lower()], s.lower())
    s = DIGITS_RE.sub(lambda m: _digits_to_words(m) if len(m.group(0)) <= 6 else " \x00 ", s)
    if not REJECT_CHARS.isdisjoint(s):
        return None
    s = OUTSIDE_ALPHABET_RE.sub(" ", DASHES_RE.sub(" ", s))
    words = [w.strip("'") for w in s.split()]
    words = [w for w in words if w]
    if not words_range[0] <= len(words) <= words_range[1]:
        return None
    return " ".join(words)


def split_sentences(cookie: str) -> list[str]:
    """A fortune cookie's sentences, without its attribution line ("-- Mark Twain")."""
    lines = [ln for ln in cookie.splitlines() if not ln.strip().startswith("--")]
    lines = [QA_PREFIX_RE.sub("", ln) for ln in lines]  # riddles' "Q:"/"A:" prefixes are not spoken
    text = " ".join(ln.strip() for ln in lines)
    # Protect abbreviations' full stops from the splitter (normalise_sentence expands them).
    text = ABBREVIATION_RE.sub(lambda m: m.group(0).replace(".", "\x01"), text)
    parts = SENTENCE_END_RE.split(text)
    return [p.replace("\x01", ".").strip() for p in parts if p.strip()]


@lru_cache(maxsize=4)
def load_sentences(fortunes_dir: str = str(FORTUNES_DIR)) -> tuple[str, ...]:
    """Every distinct normalised sentence of :data:`FORTUNE_FILES`, in a fixed (sorted) order."""
    root = Path(fortunes_dir)
    if not root.is_dir():
        raise SentenceSourceMissingError(FORTUNES_HINT)
    found: set[str] = set()
    for name in FORTUNE_FILES:
        path = root / name
        if not path.is_file():
            continue  # older packages lack a few files; the corpus records the sentence count
        for cookie in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            for raw in split_sentences(cookie):
                s = normalise_sentence(raw)
                if s is not None:
                    found.add(s)
    if not found:
        raise SentenceSourceMissingError(f"no usable sentences under {root}; is the 'fortunes' package complete?")
    return tuple(sorted(found))


def source_fingerprint(sentences: tuple[str, ...]) -> dict[str, object]:
    """Count and hash of the sentence list, for corpus.json: another ``fortunes`` version gives another corpus."""
    digest = hashlib.sha1("\n".join(sentences).encode("utf-8")).hexdigest()
    return {"source": "Debian package fortunes (BSD licence)", "files": list(FORTUNE_FILES), "sentences": len(sentences), "sha1": digest}


def text_pool(sentence: str) -> str:
    """The pool (a name of :data:`POOL_SHARES`) a sentence belongs to, from its hash alone."""
    u = int.from_bytes(hashlib.sha1(sentence.encode("utf-8")).digest()[:8], "big") / 2**64
    edge = 0.0
    for name, share in POOL_SHARES:
        edge += share
        if u < edge:
            return name
    return POOL_SHARES[-1][0]


def sentence_pools(sentences: tuple[str, ...]) -> dict[str, list[str]]:
    """Sentences grouped by :func:`text_pool`, each list in the input's order."""
    pools: dict[str, list[str]] = {name: [] for name, _ in POOL_SHARES}
    for s in sentences:
        pools[text_pool(s)].append(s)
    return pools
