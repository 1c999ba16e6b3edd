"""Your own corpus: ``x.wav`` + ``x.txt`` pairs (any depth, any supported audio type), or LJSpeech's ``metadata.csv``.

``metadata.csv`` (LJSpeech layout): ``ID|transcript|normalised transcript`` per line
with ``wavs/ID.wav``; the third column is used when present (LJSpeech's numbers and
abbreviations spelled out), else the second.

Normalisation: Unicode NFC, punctuation removed (Unicode category P, except the
apostrophe), lower-cased, whitespace collapsed; letters of any script are kept.

A folder has no splits, so they are drawn here: each utterance goes to dev or test
with probability ``dev_fraction`` / ``test_fraction`` by a hash of its id, so adding
files never moves the existing ones between splits.
"""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path

from src.data.audio_backends import AUDIO_SUFFIXES
from src.data.corpora.common import Collected, CorpusError, Item, Skip, collapse, strip_punctuation

NORMALISATION = "folder: NFC, punctuation removed (apostrophe kept), lower-cased"


def normalize(text: str) -> str:
    return collapse(strip_punctuation(unicodedata.normalize("NFC", text))).lower()


def _split_of(utt_id: str, dev_fraction: float, test_fraction: float) -> str:
    u = int.from_bytes(hashlib.sha1(utt_id.encode("utf-8")).digest()[:8], "big") / 2**64  # uniform in [0, 1)
    return "dev" if u < dev_fraction else "test" if u < dev_fraction + test_fraction else "train"


def collect(src: Path, dev_fraction: float = 0.05, test_fraction: float = 0.05) -> Collected:
    if not src.is_dir():
        raise CorpusError(f"{src}: not a folder")
    src = src.resolve()
    if not 0 <= dev_fraction < 1 or not 0 <= test_fraction < 1 or dev_fraction + test_fraction >= 1:
        raise CorpusError(f"--dev-fraction {dev_fraction} and --test-fraction {test_fraction} must be >= 0 and sum below 1")
    out = Collected(normalisation=NORMALISATION)
    found: list[Item] = []
    meta = src / "metadata.csv"
    if meta.is_file():
        for line_no, line in enumerate(meta.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            cols = line.split("|")
            if len(cols) < 2:
                out.skipped.append(Skip(f"{meta}:{line_no}", "not ID|text"))
                continue
            utt = cols[0].strip()
            raw = cols[2] if len(cols) > 2 and cols[2].strip() else cols[1]
            wav = src / "wavs" / f"{utt}.wav"
            text = normalize(raw)
            if not wav.is_file():
                out.skipped.append(Skip(f"{meta}:{line_no}", f"no audio: wavs/{utt}.wav is missing"))
            elif not text:
                out.skipped.append(Skip(f"{meta}:{line_no}", f"empty text after normalisation: {raw!r}"))
            else:
                found.append(Item(wav, text, utt))
    else:
        audio = sorted(p for p in src.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        if not audio:
            raise CorpusError(f"{src}: no audio files ({', '.join(AUDIO_SUFFIXES)}) and no metadata.csv")
        for path in audio:
            txt = path.with_suffix(".txt")
            if not txt.is_file():
                out.skipped.append(Skip(str(path), f"no transcript: {txt.name} is missing"))
                continue
            text = normalize(txt.read_text(encoding="utf-8"))
            if not text:
                out.skipped.append(Skip(str(path), f"empty text after normalisation in {txt.name}"))
                continue
            found.append(Item(path.resolve(), text, str(path.relative_to(src).with_suffix(""))))
    for item in found:
        out.splits.setdefault(_split_of(item.utt_id, dev_fraction, test_fraction), []).append(item)
    if "train" not in out.splits:
        raise CorpusError(f"{src}: no usable utterances left for training (see the skipped items)")
    # Small folders: make sure dev and test exist (training validates on dev; the README's
    # eval command reads test), taking the last training items, when the fractions ask for them.
    for split, fraction in (("dev", dev_fraction), ("test", test_fraction)):
        if fraction > 0 and split not in out.splits and len(out.splits["train"]) > 1:
            out.splits[split] = [out.splits["train"].pop()]
    out.splits = {k: out.splits[k] for k in ("train", "dev", "test") if k in out.splits}
    return out
