"""What every corpus preparer shares: the collected items, the skip report, writing manifests.

A preparer (one file per corpus) walks the corpus's native layout and returns a
:class:`Collected`: per split, the utterances it found with their normalised text,
and every item it had to leave out with the reason. :func:`write_manifests` then
measures each file's duration (headers; MP3 is decoded and counted), drops what
cannot be read, and writes NeMo-style JSONL manifests plus ``skipped.tsv``.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from src.data.audio import AudioError
from src.data.audio_backends import audio_duration


class CorpusError(ValueError):
    """The source folder does not have the corpus's layout; the message says what was expected."""


@dataclass(frozen=True)
class Item:
    audio: Path  # absolute
    text: str  # normalised for this corpus
    utt_id: str


@dataclass(frozen=True)
class Skip:
    what: str  # a file or an utterance id
    reason: str


@dataclass
class Collected:
    splits: dict[str, list[Item]] = field(default_factory=dict)  # manifest name -> items
    skipped: list[Skip] = field(default_factory=list)
    normalisation: str = ""  # one line: which recipe's text rule was applied


def strip_punctuation(text: str, keep: str = "'") -> str:
    """Remove Unicode punctuation (categories P*) except ``keep``; other symbols stay."""
    return "".join(c for c in text if c in keep or not unicodedata.category(c).startswith("P"))


def collapse(text: str) -> str:
    return " ".join(text.split())


def _duration(item: Item) -> float | AudioError:
    try:
        return audio_duration(item.audio)
    except AudioError as e:
        return e


def write_manifests(collected: Collected, out: Path, *, min_seconds: float = 0.1, progress: bool = True,
                    workers: int = 1) -> dict:
    """``out/<split>.jsonl`` per split, ``out/skipped.tsv``; returns a summary dict (also ``out/summary.json``).

    Items whose audio cannot be read, or shorter than ``min_seconds`` (less than a few
    fbank frames), are skipped with the reason. ``workers`` threads measure durations at
    once: MP3 is decoded by one ffmpeg process per clip, which waits on I/O and the other
    process, not on Python.
    """
    out.mkdir(parents=True, exist_ok=True)
    skipped = list(collected.skipped)
    summary: dict = {"normalisation": collected.normalisation, "splits": {}}
    for split, items in collected.splits.items():
        lines, seconds = [], 0.0
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            durations = list(tqdm(pool.map(_duration, items), total=len(items), desc=f"{split}: durations",
                                  disable=not progress, leave=False))
        for item, duration in zip(items, durations):
            if isinstance(duration, AudioError):
                skipped.append(Skip(str(item.audio), f"unreadable audio: {duration}"))
                continue
            if duration < min_seconds:
                skipped.append(Skip(str(item.audio), f"too short: {duration:.3f} s < {min_seconds} s"))
                continue
            seconds += duration
            lines.append(json.dumps({"audio_filepath": str(item.audio), "duration": round(duration, 4), "text": item.text},
                                    ensure_ascii=False))
        if not lines:
            raise CorpusError(f"split {split!r}: no usable utterances (see the skipped list in {out / 'skipped.tsv'})")
        (out / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        summary["splits"][split] = {"utterances": len(lines), "hours": round(seconds / 3600, 4),
                                    "manifest": str(out / f"{split}.jsonl")}
    (out / "skipped.tsv").write_text("".join(f"{s.what}\t{s.reason}\n" for s in skipped), encoding="utf-8")
    reasons = Counter(s.reason.split(":")[0] for s in skipped)
    summary["skipped"] = {"total": len(skipped), "by_reason": dict(reasons.most_common()), "list": str(out / "skipped.tsv")}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return summary
