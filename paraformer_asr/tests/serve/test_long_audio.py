"""POST /transcribe/audio over max_audio_seconds: VAD segments batched together, each decoded as if alone."""

from __future__ import annotations

import math
import subprocess

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from src.data import audio_backends
from src.data.audio import read_wav, write_wav
from src.data.features import Fbank
from src.serve.app import create_app
from tests.serve.stub_model import offline_decode, stub_setup

SR = 16000
SPANS = [(0.3, 1.5), (2.2, 3.0), (3.8, 5.6)]  # seconds of "speech" in a 6 s recording


def recording(path):
    x = np.zeros(6 * SR, dtype=np.float32)
    for i, (a, b) in enumerate(SPANS):
        t = np.arange(int((b - a) * SR)) / SR
        x[int(a * SR) : int(a * SR) + len(t)] = 0.3 * np.sin(2 * math.pi * (300 + 200 * i) * t * (1 + 0.3 * t))
    write_wav(path, x, SR)
    return path.read_bytes()


@pytest.fixture
def long_app():
    model, tok, cfg = stub_setup(audio=True, max_audio_seconds=2.0, batch_window_ms=50.0)
    cfg.features.apply_cmvn = False
    cfg.vad.pad_ms = 0.0
    with TestClient(create_app(model, tok, cfg, "cpu")) as client:
        yield client, model, tok, cfg


def test_segments_match_offline_decodes_with_offsets(long_app, tmp_path):
    client, model, tok, cfg = long_app
    r = client.post("/transcribe/audio", files={"file": ("long.wav", recording(tmp_path / "long.wav"))})
    assert r.status_code == 200, r.text
    calls = list(model.calls)  # the service's forward passes (offline_decode below adds its own)
    body = r.json()
    segs = body["segments"]
    assert len(segs) == 3
    for (a, b), seg in zip(SPANS, segs):
        assert abs(seg["start"] - a) <= 0.02 and abs(seg["end"] - b) <= 0.02
    wave = read_wav(tmp_path / "long.wav")
    fbank = Fbank(cfg.features)
    expected_ids, expected_stamps = [], []
    for seg in segs:
        s, e = int(round(seg["start"] * SR)), int(round(seg["end"] * SR))
        hyp = offline_decode(model, fbank(wave[s:e], training=False))
        assert seg["text"] == tok.decode(hyp.tokens)
        if expected_ids:
            expected_ids.append(tok.token_to_id[" "])
            expected_stamps.append(round(seg["start"], 4))
        expected_ids += hyp.tokens
        expected_stamps += [round(seg["start"] + f * 0.04, 4) for f in hyp.token_frames]
    assert body["token_ids"] == expected_ids
    assert body["timestamps"] == pytest.approx(expected_stamps, abs=1e-3)
    assert body["text"] == " ".join(s["text"] for s in segs) == "".join(body["tokens"])
    # The segments were submitted together: the batcher decoded several in one forward pass
    # (it may split them by length when padding would cost more than another pass).
    assert calls[0][2] >= 2 and sum(b for _, _, b in calls) == 3, calls


def test_short_audio_has_no_segments(long_app, tmp_path):
    client, *_ = long_app
    t = torch.arange(SR) / SR
    write_wav(tmp_path / "a.wav", 0.3 * torch.sin(2 * math.pi * 440 * t), SR)
    r = client.post("/transcribe/audio", files={"file": ("a.wav", (tmp_path / "a.wav").read_bytes())})
    assert r.status_code == 200 and r.json()["segments"] is None


@pytest.mark.skipif(not audio_backends.ffmpeg_available(), reason="ffmpeg not on the PATH (apt-get install ffmpeg)")
@pytest.mark.parametrize("suffix,ctype", [(".flac", "audio/flac"), (".mp3", "audio/mpeg")])
def test_compressed_uploads_decode_through_ffmpeg(long_app, tmp_path, suffix, ctype):
    client, model, tok, cfg = long_app
    recording(tmp_path / "long.wav")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(tmp_path / "long.wav"), str(tmp_path / f"long{suffix}")], check=True)
    data = (tmp_path / f"long{suffix}").read_bytes()
    r = client.post("/transcribe/audio", content=data, headers={"content-type": ctype})
    assert r.status_code == 200, r.text
    assert len(r.json()["segments"]) == 3
    if suffix == ".flac":  # lossless: the same answer as the WAV
        wav = client.post("/transcribe/audio", files={"file": ("long.wav", (tmp_path / "long.wav").read_bytes())})
        assert r.json()["token_ids"] == wav.json()["token_ids"]


def test_compressed_upload_without_ffmpeg_names_it(long_app, monkeypatch):
    from src.serve import audio_input

    client, *_ = long_app
    monkeypatch.setattr(audio_input, "ffmpeg_available", lambda: False)
    r = client.post("/transcribe/audio", content=b"fLaC" + bytes(64), headers={"content-type": "audio/flac"})
    assert r.status_code == 415 and "FLAC/MP3/OGG uploads need ffmpeg on the server's PATH" in r.json()["detail"]
