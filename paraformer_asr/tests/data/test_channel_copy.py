"""src/data/channel_copy.py and scripts/make_channel_set.py: a manifest copied through a telephone channel."""

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from src.data.audio import read_wav, read_wav_info, resample, write_wav
from src.data.channel_copy import CHANNELS, apply_channel, copy_through_channel

SR = 16000
TONES_HZ = (100.0, 1000.0, 6000.0)  # below, inside and above the telephone band
PROJECT = Path(__file__).resolve().parents[2]


def tones(seconds: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(seconds * SR), dtype=torch.float64) / SR
    return sum(0.2 * torch.sin(2 * math.pi * f * t) for f in TONES_HZ).float()  # (N,)


def amplitude(wave: torch.Tensor, freq: float) -> float:
    """Amplitude of the ``freq`` component over the middle half (clear of the filters' edges)."""
    n = wave.numel()
    x = wave[n // 4 : 3 * n // 4].double()
    t = torch.arange(n // 4, n // 4 + x.numel(), dtype=torch.float64) / SR
    return 2 * abs(complex((x * torch.cos(2 * math.pi * freq * t)).mean(), (x * torch.sin(2 * math.pi * freq * t)).mean()))


@pytest.mark.parametrize(("channel", "kept", "removed", "rate"), [
    ("8k", (100.0, 1000.0), (6000.0,), 8000),
    ("telephone", (1000.0,), (100.0, 6000.0), SR),
])
def test_channel_keeps_its_band_and_removes_the_rest(channel, kept, removed, rate):
    wave = tones()
    out, sr = apply_channel(wave, SR, channel)
    assert sr == rate and abs(out.numel() / sr - wave.numel() / SR) <= 1 / rate
    back = resample(out, sr, SR)  # at the model's rate, as eval.py reads an 8 kHz file
    for f in kept:
        assert amplitude(back, f) == pytest.approx(0.2, rel=0.02), f"{channel}: {f} Hz should pass"
    for f in removed:
        assert amplitude(back, f) < 0.002, f"{channel}: {f} Hz should be gone"


def write_manifest(tmp_path: Path) -> Path:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    lines = []
    for i, folder in enumerate(("a", "b")):  # the same file name in two folders
        write_wav(tmp_path / folder / "utt.wav", tones(0.3 + 0.2 * i), SR)
        lines.append({"audio_filepath": f"{folder}/utt.wav", "duration": 0.3 + 0.2 * i, "text": f"Word {i}", "voice": f"v{i}"})
    path = tmp_path / "test.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_copy_keeps_fields_and_writes_the_channel(tmp_path):
    manifest = write_manifest(tmp_path)
    out = copy_through_channel(manifest, tmp_path / "out", "8k", progress=False)
    assert out == tmp_path / "out" / "test_8k.jsonl"
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(line["text"], line["voice"], line["channel"]) for line in lines] == [("word 0", "v0", "8k"), ("word 1", "v1", "8k")]
    assert len({line["audio_filepath"] for line in lines}) == 2  # equal stems do not overwrite each other
    for line, seconds in zip(lines, (0.3, 0.5)):
        rate, channels, width, frames = read_wav_info(out.parent / line["audio_filepath"])
        assert (rate, channels, width) == (8000, 1, 2) and frames == pytest.approx(seconds * 8000, abs=1)
        assert line["duration"] == pytest.approx(seconds, abs=1e-3)
        back = read_wav(out.parent / line["audio_filepath"], target_sr=SR)
        assert amplitude(back, 6000.0) < 0.002 and amplitude(back, 1000.0) == pytest.approx(0.2, rel=0.02)
    with pytest.raises(FileExistsError, match="exists"):
        copy_through_channel(manifest, tmp_path / "out", "8k", progress=False)


def test_unknown_channel_names_the_choices(tmp_path):
    with pytest.raises(ValueError, match="8k, telephone"):
        apply_channel(tones(), SR, "radio")
    with pytest.raises(ValueError, match="unknown channel 'radio'"):
        copy_through_channel(write_manifest(tmp_path), tmp_path / "out", "radio", progress=False)
    assert not (tmp_path / "out").exists()
    assert sorted(CHANNELS) == ["8k", "telephone"]


def test_script_writes_the_manifest(tmp_path):
    manifest = write_manifest(tmp_path)
    cmd = [sys.executable, "scripts/make_channel_set.py", "--manifest", str(manifest), "--channel", "telephone", "--out", str(tmp_path / "tel")]
    run = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = tmp_path / "tel" / "test_telephone.jsonl"
    assert f"wrote {out}" in run.stdout and len(out.read_text().splitlines()) == 2
    again = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "exists" in again.stderr


def test_clipping_is_reported_not_silent(tmp_path):
    """A full-scale square wave overshoots after the filters (Gibbs); the copy says so."""
    t = torch.arange(SR // 2, dtype=torch.float64) / SR
    square = torch.sign(torch.sin(2 * math.pi * 440 * t)).float() * 0.999
    write_wav(tmp_path / "loud.wav", square, SR)
    (tmp_path / "loud.jsonl").write_text(json.dumps({"audio_filepath": "loud.wav", "duration": 0.5, "text": "loud"}) + "\n")
    with pytest.warns(UserWarning, match="1 of 1 utterances exceed full scale"):
        copy_through_channel(tmp_path / "loud.jsonl", tmp_path / "out", "8k", progress=False)
    (tmp_path / "quiet").mkdir()
    manifest = write_manifest(tmp_path / "quiet")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the quiet tones of the other tests give no warning
        copy_through_channel(manifest, tmp_path / "quiet" / "out", "telephone", progress=False)
