"""Manifests of recordings of real people that ship, with transcripts, inside Debian packages.

For evaluation only: never train on them (they are a handful of speakers, and the point
is to measure speech the model has never heard). Two sources:

- ``pocketsphinx-testdata`` (BSD-2, CMU): the test data of CMU PocketSphinx. We use the
  two sets whose transcripts the package ships: ``librivox`` (5 sentences of *Sense and
  Sensibility* read by a LibriVox volunteer, 16 kHz) and ``cards`` (5 utterances of playing
  card names, 16 kHz). The headerless ``.raw`` files have no shipped transcript and are left out.
- ``asterisk-core-sounds-en-wav`` (CC-BY-SA-3.0, recorded by Allison Smith): the English
  telephone prompts of the Asterisk PBX, 8 kHz, with their texts in
  ``/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz`` (package
  ``asterisk-core-sounds-en``). A studio voice at telephone bandwidth. Prompts that do not
  normalise cleanly (tones in brackets, "*", "#", acronyms) are left out.

Each line gets ``source`` and ``speaker`` fields for ``eval.py --group-by``. Audio paths are
absolute paths into the installed packages; nothing is copied.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

from src.data.audio import read_wav_info
from src.data.tts.sentences import normalise_sentence

POCKETSPHINX_DIR = Path("/usr/share/pocketsphinx/test/data")
ASTERISK_SOUNDS_DIR = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ASTERISK_TEXTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
INSTALL_HINT = "sudo apt-get install pocketsphinx-testdata asterisk-core-sounds-en asterisk-core-sounds-en-wav"
# A prompt of one word ("Goodbye.") is a fair test; of 60 words, an IVR menu.
PROMPT_WORDS = (1, 60)
# "<s> ten of clubs </s> (001)": the Sphinx transcription format.
SPHINX_LINE = re.compile(r"^\s*(?:<s>)?\s*(?P<text>.*?)\s*(?:</s>)?\s*\((?P<id>[^()]+)\)\s*$")


def _line(path: Path, text: str, source: str, speaker: str) -> dict[str, object]:
    sr, _, _, frames = read_wav_info(path)
    return {"audio_filepath": str(path), "duration": round(frames / sr, 4), "text": text, "source": source, "speaker": speaker}


def pocketsphinx_lines(root: Path = POCKETSPHINX_DIR) -> list[dict[str, object]]:
    """The ``librivox`` and ``cards`` recordings with their shipped transcripts (empty if absent)."""
    lines = []
    for name, transcription, speaker in (("librivox", "transcription", "librivox-austen"), ("cards", "cards.transcription", "cards")):
        path = root / name / transcription
        if not path.is_file():
            continue
        for raw in path.read_text(encoding="utf-8").splitlines():
            m = SPHINX_LINE.match(raw)
            if m is None:
                continue
            wav = root / name / f"{m.group('id')}.wav"
            text = normalise_sentence(m.group("text"), (1, 100))
            if wav.is_file() and text:
                lines.append(_line(wav, text, f"pocketsphinx-{name}", speaker))
    return lines


def asterisk_lines(sounds: Path = ASTERISK_SOUNDS_DIR, texts: Path = ASTERISK_TEXTS) -> list[dict[str, object]]:
    """Asterisk's English prompts whose text normalises cleanly (empty if the packages are absent)."""
    if not texts.is_file() or not sounds.is_dir():
        return []
    lines = []
    for raw in gzip.open(texts, "rt", encoding="utf-8", errors="replace").read().splitlines():
        if raw.startswith(";") or ":" not in raw:
            continue
        name, prompt = (part.strip() for part in raw.split(":", 1))
        wav = sounds / f"{name}.wav"
        if "[" in prompt or not wav.is_file():
            continue  # "[ascending tones]" is not speech
        text = normalise_sentence(prompt, PROMPT_WORDS)
        if text:
            lines.append(_line(wav, text, "asterisk-prompts", "allison"))
    return lines


def write_manifest(path: Path, lines: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
