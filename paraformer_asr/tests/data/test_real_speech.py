"""src/data/real_speech.py: manifests of packaged real recordings, on fixtures in the packages' exact layout."""

from __future__ import annotations

import gzip
import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from src.data import real_speech
from src.data.audio import write_wav
from src.data.manifest import read_manifest

ROOT = Path(__file__).resolve().parents[2]


def tone(path: Path, seconds: float, sr: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, (0.1 * np.sin(np.arange(int(seconds * sr)) * 0.05)).astype(np.float32), sr)


def test_pocketsphinx_layout(tmp_path):
    tone(tmp_path / "cards" / "001.wav", 1.5, 16000)
    tone(tmp_path / "librivox" / "book-0870.wav", 2.0, 16000)
    (tmp_path / "cards" / "cards.transcription").write_text("<s> ten of clubs  </s> (001)\n<s> five five </s> (002)\n")
    (tmp_path / "librivox" / "transcription").write_text("<s> and Mr. John Dashwood </s> (book-0870)\n")
    lines = real_speech.pocketsphinx_lines(tmp_path)
    assert [(x["text"], x["source"], x["duration"]) for x in lines] == [
        ("and mister john dashwood", "pocketsphinx-librivox", 2.0),
        ("ten of clubs", "pocketsphinx-cards", 1.5),
    ]  # 002 has no WAV, so it is left out
    assert real_speech.pocketsphinx_lines(tmp_path / "absent") == []


def test_asterisk_layout(tmp_path):
    sounds, doc = tmp_path / "sounds", tmp_path / "core-sounds-en.txt.gz"
    for name in ("added", "beep", "press-1", "vm-star", "digits/5"):
        tone(sounds / f"{name}.wav", 0.5, 8000)
    text = "; Core Asterisk Sounds in English\n\nadded: Added.\nbeep: [this is a simple beep tone]\n" \
        "press-1: Press 1, or hang up.\nvm-star: Press * to cancel.\ndigits/5: Five.\nmissing: No file.\n"  # fmt: skip
    with gzip.open(doc, "wt") as f:
        f.write(text)
    lines = real_speech.asterisk_lines(sounds, doc)
    assert [x["text"] for x in lines] == ["added", "press one or hang up", "five"]
    assert all(x["source"] == "asterisk-prompts" and x["duration"] == 0.5 for x in lines)
    out = tmp_path / "m.jsonl"
    real_speech.write_manifest(out, lines)
    assert [e.text for e in read_manifest(out)] == ["added", "press one or hang up", "five"]  # absolute paths resolve


@pytest.mark.skipif(not real_speech.POCKETSPHINX_DIR.is_dir() and not real_speech.ASTERISK_TEXTS.is_file(),
                    reason=f"no packaged recordings installed ({real_speech.INSTALL_HINT})")  # fmt: skip
def test_script_on_the_installed_packages(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["make_real_speech.py", "--out", str(tmp_path)])
    runpy.run_path(str(ROOT / "scripts" / "make_real_speech.py"), run_name="__main__")
    lines = [json.loads(x) for x in (tmp_path / "real.jsonl").read_text().splitlines()]
    assert lines and {x["source"] for x in lines} <= {"pocketsphinx-librivox", "pocketsphinx-cards", "asterisk-prompts"}
    assert len(read_manifest(tmp_path / "real.jsonl")) == len(lines)
