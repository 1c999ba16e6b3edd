"""scripts/make_speech_data.py and make_ood_speech.py: tiny corpora from every installed engine,
held-out splits, the word-list corpus, and the errors for a missing engine."""

from __future__ import annotations

import json
import math
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from src.data.audio import read_wav, read_wav_info
from src.data.speech_corpus import SPLIT_VARIANTS, WORDS, plan_corpus

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make_speech_data.py"
OOD_SCRIPT = ROOT / "scripts" / "make_ood_speech.py"
HAVE_FORTUNES = Path("/usr/share/games/fortunes").is_dir()
INSTALLED = [e for e in ("espeak-ng", "flite", "festival") if shutil.which("text2wave" if e == "festival" else e)]
CONDITION_KEYS = {"engine", "voice", "speed", "rate_wpm", "pitch", "lead_silence_s", "trail_silence_s", "snr_db", "peak_dbfs",
                  "snr_band", "silence_band"}  # fmt: skip


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
def test_tiny_wordlist_corpus(tmp_path):
    out = tmp_path / "speech"
    cmd = [sys.executable, str(SCRIPT), "--out", str(out), "--n", "6", "--seed", "0", "--noise", "--silence", "--workers", "1"]
    cmd += ["--text", "wordlist"]
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
    assert "sudo apt-get install flite" in proc.stderr and "festvox-kdlpc16k" in proc.stderr
    assert not (tmp_path / "x").exists()


def run_script(script: Path, argv: list[str], monkeypatch) -> None:
    """Run a script's main() in this process (the sentence list and torch are loaded once for all tests)."""
    monkeypatch.setattr(sys, "argv", [str(script)] + argv)
    runpy.run_path(str(script), run_name="__main__")


def check_wavs(out: Path, lines: list[dict]) -> None:
    for line in lines:
        sr, channels, width, frames = read_wav_info(out / line["audio_filepath"])  # relative to the manifest's folder
        assert (sr, channels, width) == (16000, 1, 2)
        assert line["duration"] == pytest.approx(frames / 16000, abs=1e-3)
        x = read_wav(out / line["audio_filepath"])
        assert 20 * math.log10(float(x.abs().max())) == pytest.approx(line["peak_dbfs"], abs=0.05)
        assert CONDITION_KEYS <= set(line) and line["text"] and set(line["text"]) <= set("abcdefghijklmnopqrstuvwxyz '")


@pytest.mark.skipif(not HAVE_FORTUNES, reason="Debian's fortunes package is not installed (sudo apt-get install fortunes)")
@pytest.mark.skipif(not {"espeak-ng", "flite"} & set(INSTALLED), reason="neither espeak-ng nor flite is installed")
def test_tiny_multi_engine_corpus(tmp_path, monkeypatch):
    """Every installed engine speaks; festival (if installed) only in test_unseen_engine."""
    out = tmp_path / "speech"
    run_script(SCRIPT, ["--out", str(out), "--n", "10", "--seed", "3", "--noise", "--silence", "--engines", ",".join(INSTALLED),
                        "--workers", "1", "--words", "3", "8"], monkeypatch)  # fmt: skip
    splits = ["train", "dev", "test"] + (["test_unseen_engine"] if "festival" in INSTALLED else [])
    lines = {s: read_jsonl(out / f"{s}.jsonl") for s in splits}
    assert [len(lines[s]) for s in splits] == [8, 1, 1] + ([1] if "festival" in INSTALLED else [])
    assert not (out / "test_unseen_engine.jsonl").exists() or "festival" in INSTALLED
    for s in splits:
        check_wavs(out, lines[s])
        assert all(3 <= len(line["text"].split()) <= 8 for line in lines[s])
    train_voices = {(x["engine"], x["voice"]) for x in lines["train"]}
    assert all(x["engine"] != "festival" for x in lines["train"])
    for s in splits[1:]:
        assert train_voices.isdisjoint((x["engine"], x["voice"]) for x in lines[s])
        assert {x["text"] for x in lines["train"]}.isdisjoint(x["text"] for x in lines[s])
    meta = json.loads((out / "corpus.json").read_text())
    assert meta["engines"] == INSTALLED and len(meta["utterances"]) == sum(len(v) for v in lines.values())
    assert meta["sentences"]["sentences"] > 5000 and len(meta["sentences"]["sha1"]) == 40


@pytest.mark.skipif(not HAVE_FORTUNES, reason="Debian's fortunes package is not installed (sudo apt-get install fortunes)")
@pytest.mark.skipif("espeak-ng" not in INSTALLED, reason="espeak-ng is not installed (sudo apt-get install espeak-ng)")
def test_tiny_ood_set(tmp_path, monkeypatch):
    out = tmp_path / "ood"
    run_script(OOD_SCRIPT, ["--out", str(out), "--n", "4", "--seed", "0", "--workers", "1", "--words", "3", "6"], monkeypatch)
    lines = read_jsonl(out / "ood.jsonl")
    assert len(lines) == 4
    check_wavs(out, lines)
    assert all(x["engine"] == "espeak-ng" and 130 <= x["rate_wpm"] <= 200 for x in lines)


def test_missing_festival_names_its_packages_and_the_flag(monkeypatch):
    from src.data.tts import EngineMissingError, festival, find_engines

    monkeypatch.setattr(festival, "find", lambda: None)
    with pytest.raises(EngineMissingError) as e:
        find_engines(["festival"])
    assert "festvox-us-slt-hts" in str(e.value) and "--engines espeak-ng,flite" in str(e.value)


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
    from src.data.tts import espeak

    monkeypatch.setattr(espeak.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, listing, ""))
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
