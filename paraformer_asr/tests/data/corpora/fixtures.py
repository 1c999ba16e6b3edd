"""Tiny corpus trees in each corpus's exact layout, with tone audio made here.

Each utterance is a few tones (one per word, 0.12 s each) with short silences, so a
tree of a handful of files is written in well under a second. FLAC and MP3 are
encoded by ffmpeg (callers skip without it).
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from src.data.audio import write_wav

SR = 16000
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                  reason="ffmpeg/ffprobe not on the PATH (apt-get install ffmpeg): FLAC/MP3 fixtures cannot be written")


def tones(text: str, seed: int, sr: int = SR) -> np.ndarray:
    """0.1 s silence, then per character a 0.06 s tone (pitch from the character) and 0.02 s gap."""
    rng = np.random.default_rng(seed)
    pieces = [np.zeros(int(0.1 * sr))]
    for ch in text:
        t = np.arange(int(0.06 * sr)) / sr
        f = 200.0 + (ord(ch) * 37) % 1800
        pieces += [0.4 * np.sin(2 * math.pi * f * t), np.zeros(int(0.02 * sr))]
    pieces.append(np.zeros(int(0.1 * sr)))
    return (np.concatenate(pieces) + 0.003 * rng.standard_normal(sum(map(len, pieces)))).astype(np.float32)


def write_audio(path: Path, text: str, seed: int, sr: int = SR) -> None:
    """WAV written by us; .flac/.mp3 encoded from it by ffmpeg."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".wav":
        write_wav(path, tones(text, seed, sr), sr)
        return
    tmp = path.with_suffix(".tmp.wav")
    write_wav(tmp, tones(text, seed, sr), sr)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(tmp), str(path)], check=True)
    tmp.unlink()


ENGLISH = ["the cat sat", "a dog ran", "the cat ran", "a dog sat", "the dog", "a cat"]
MANDARIN = ["我们去北京", "你好世界", "我们你好", "北京世界", "去北京", "你们好"]


def librispeech_tree(root: Path) -> Path:
    """LibriSpeech/{train-clean-100,dev-clean,test-clean}/SPK/CHAPTER/SPK-CHAPTER-NNNN.flac + SPK-CHAPTER.trans.txt."""
    base = root / "LibriSpeech"
    plan = {"train-clean-100": [("19", "198", ENGLISH[:2]), ("26", "495", ENGLISH[2:4])],
            "dev-clean": [("84", "121", ENGLISH[4:5])], "test-clean": [("61", "70968", ENGLISH[5:6])]}
    seed = 0
    for subset, chapters in plan.items():
        for spk, chapter, texts in chapters:
            folder = base / subset / spk / chapter
            lines = []
            for i, text in enumerate(texts):
                utt = f"{spk}-{chapter}-{i:04d}"
                write_audio(folder / f"{utt}.flac", text, seed)
                seed += 1
                lines.append(f"{utt} {text.upper()}")
            (folder / f"{spk}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return base


def aishell_tree(root: Path) -> Path:
    """data_aishell/wav/{train,dev,test}/SPK/BAC009SxxxxWxxxx.wav + transcript/aishell_transcript_v0.8.txt (word-segmented)."""
    base = root / "data_aishell"
    plan = {"train": [("S0002", MANDARIN[:4]), ("S0003", MANDARIN[4:])], "dev": [("S0724", MANDARIN[:2])],
            "test": [("S0764", MANDARIN[2:4])]}
    lines, seed = [], 0
    for split, speakers in plan.items():
        for spk, texts in speakers:
            for i, text in enumerate(texts):
                utt = f"BAC009{spk}W{i + 121:04d}"
                write_audio(base / "wav" / split / spk / f"{utt}.wav", text, seed)
                seed += 1
                lines.append(f"{utt} {text[:2]} {' '.join(text[2:])}")  # segmented like the real file
    (base / "transcript").mkdir(parents=True)
    (base / "transcript" / "aishell_transcript_v0.8.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return base


def commonvoice_tree(root: Path) -> Path:
    """en/clips/common_voice_en_N.mp3 + train.tsv/dev.tsv/test.tsv with Common Voice's columns."""
    base = root / "en"
    header = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tlocale\tsegment"
    sentences = {"train": ["The cat-sat.", "A “dog” ran!", "The cat’s ran"], "dev": ["The dog, a cat."],
                 "test": ["A cat; the dog"]}
    n = 0
    for split, texts in sentences.items():
        rows = [header]
        for text in texts:
            clip = f"common_voice_en_{n}.mp3"
            write_audio(base / "clips" / clip, text, n)
            rows.append(f"abc{n}\t{clip}\t{text}\t2\t0\t\t\t\ten\t")
            n += 1
        (base / f"{split}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return base


def folder_tree(root: Path, texts: list[str] = ENGLISH * 2) -> Path:
    """my_corpus/rec_NN.wav + rec_NN.txt pairs, some in a subfolder."""
    base = root / "my_corpus"
    for i, text in enumerate(texts):
        stem = base / ("more" if i % 3 == 0 else "") / f"rec_{i:02d}"
        write_audio(stem.with_suffix(".wav"), text, i)
        stem.with_suffix(".txt").write_text(text.capitalize() + ".\n", encoding="utf-8")
    return base
