"""scripts/make_speech_data.py: a tiny espeak-ng corpus, held-out splits, the missing-espeak error."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from src.data.audio import read_wav, read_wav_info
from src.data.speech_corpus import SPLIT_VARIANTS, WORDS, plan_corpus

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make_speech_data.py"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_plan_holds_out_variants_and_sentences():
    plan = plan_corpus(200, seed=0, noise=True, silence=True)
    assert [u.split for u in plan].count("test") == 20 and [u.split for u in plan].count("dev") == 20
    variants = {s: {u.voice.split("+")[1] for u in plan if u.split == s} for s in ("train", "dev", "test")}
    assert variants["train"].isdisjoint(variants["test"]) and variants["train"].isdisjoint(variants["dev"])
    assert variants["test"] <= set(SPLIT_VARIANTS["test"])
    texts = [u.text for u in plan]
    assert len(set(texts)) == len(texts)
    assert all(set(t) <= set("abcdefghijklmnopqrstuvwxyz '") for t in texts)
    assert all(w in WORDS for t in texts for w in t.split())
    assert plan == plan_corpus(200, seed=0, noise=True, silence=True)
    assert plan != plan_corpus(200, seed=1, noise=True, silence=True)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (sudo apt-get install espeak-ng)")
def test_tiny_corpus(tmp_path):
    out = tmp_path / "speech"
    cmd = [sys.executable, str(SCRIPT), "--out", str(out), "--n", "6", "--seed", "0", "--noise", "--silence", "--workers", "1"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    splits = {s: read_jsonl(out / f"{s}.jsonl") for s in ("train", "dev", "test")}
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [4, 1, 1]
    for s, lines in splits.items():
        for line in lines:
            wav = out / line["audio_filepath"]  # relative to the manifest's folder
            sr, channels, width, frames = read_wav_info(wav)
            assert (sr, channels, width) == (16000, 1, 2)
            assert line["duration"] == pytest.approx(frames / 16000, abs=1e-3)
            x = read_wav(wav)
            assert x.numel() == frames and float(x.abs().max()) > 0.1  # not silent
            assert line["text"].strip() == line["text"] and line["text"]
    train_texts = {line["text"] for line in splits["train"]}
    for s in ("dev", "test"):
        assert train_texts.isdisjoint(line["text"] for line in splits[s])


def test_missing_espeak_gives_install_command(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = dict(os.environ, PATH=str(empty))
    cmd = [sys.executable, str(SCRIPT), "--out", str(tmp_path / "x"), "--n", "6"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert "sudo apt-get install espeak-ng" in proc.stderr and "brew install espeak-ng" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_dev_and_test_do_not_depend_on_the_training_variants(monkeypatch):
    """Adding training speakers must leave the held-out splits (and so every earlier result on them) unchanged."""
    from src.data import speech_corpus

    before = [u for u in plan_corpus(300, seed=0, noise=False, silence=False) if u.split != "train"]
    monkeypatch.setitem(speech_corpus.SPLIT_VARIANTS, "train", ("m1", "f1"))
    after = plan_corpus(300, seed=0, noise=False, silence=False)
    assert [u for u in after if u.split != "train"] == before
    assert {u.voice.split("+")[1] for u in after if u.split == "train"} <= {"m1", "f1"}


def test_missing_variants_are_named(monkeypatch):
    from src.data import speech_corpus

    listing = (
        "Pty Language       Age/Gender VoiceName          File                 Other Languages\n"
        " 5  variant         --/M      Alex               !v/Alex              \n"
        " 5  variant         --/M      male1              !v/m1                \n"
    )
    monkeypatch.setattr(speech_corpus.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, listing, ""))
    missing = speech_corpus.missing_variants("espeak-ng")
    assert "Alex" not in missing and "m1" not in missing
    assert "m7" in missing and "klatt3" in missing
    assert len(missing) == sum(len(v) for v in SPLIT_VARIANTS.values()) - 2


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (sudo apt-get install espeak-ng)")
def test_missing_variants_parses_the_real_listing():
    """On the installed espeak-ng: its classic variants (in every version) are found."""
    from src.data.speech_corpus import missing_variants

    missing = missing_variants(shutil.which("espeak-ng"))
    assert not {"m1", "m5", "m7", "f3", "f4"} & set(missing)
