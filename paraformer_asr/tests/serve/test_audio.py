"""POST /transcribe/audio: multipart and raw WAV uploads, and every bad-upload case."""

from __future__ import annotations

import math

import pytest
import torch
from fastapi.testclient import TestClient

from src.data.audio import read_wav, read_wav_bytes, write_wav
from src.data.cmvn import GlobalCMVN
from src.data.features import Fbank
from src.serve.app import create_app
from tests.serve.stub_model import offline_decode, stub_setup


def _tone_wav(path, seconds: float, sr: int = 16000) -> bytes:
    t = torch.arange(int(seconds * sr)) / sr
    wave = 0.3 * torch.sin(2 * math.pi * 440 * t) + 0.2 * torch.sin(2 * math.pi * (1200 + 900 * t) * t)  # a chirp
    write_wav(path, wave, sr)
    return path.read_bytes()


@pytest.fixture
def audio_app(tmp_path):
    model, tok, cfg = stub_setup(audio=True, max_audio_seconds=2.0, max_body_bytes=200_000)
    cmvn = GlobalCMVN(cfg.features.num_mel_bins)
    cmvn.accumulate(Fbank(cfg.features)(read_wav_bytes(_tone_wav(tmp_path / "stats.wav", 1.0))))
    with TestClient(create_app(model, tok, cfg, "cpu", cmvn=cmvn)) as client:
        yield client, model, cfg, cmvn


def _offline(model, cfg, cmvn, path):
    feats = cmvn.apply(Fbank(cfg.features)(read_wav(path, cfg.features.sample_rate)))  # (T, F)
    return offline_decode(model, feats), feats.shape[0]


def test_health_says_audio_is_supported(audio_app):
    client, *_ = audio_app
    h = client.get("/health").json()
    assert h["audio_supported"] is True and h["feature_dim"] == 80 and h["sample_rate"] == 16000


def test_multipart_and_raw_uploads_match_offline(audio_app, tmp_path):
    client, model, cfg, cmvn = audio_app
    data = _tone_wav(tmp_path / "a.wav", 0.8)
    ref, frames = _offline(model, cfg, cmvn, tmp_path / "a.wav")
    r1 = client.post("/transcribe/audio", files={"file": ("a.wav", data, "audio/wav")})
    r2 = client.post("/transcribe/audio", content=data, headers={"content-type": "audio/wav"})
    for r in (r1, r2):
        assert r.status_code == 200, r.text
        assert r.json()["token_ids"] == ref.tokens and len(ref.tokens) > 0
        assert r.json()["num_frames"] == frames == 78  # 1 + (12800 - 400) // 160
        assert r.json()["timestamps"] == pytest.approx([f * 0.04 for f in ref.token_frames])


def test_resampled_upload(audio_app, tmp_path):
    client, model, cfg, cmvn = audio_app
    data = _tone_wav(tmp_path / "b.wav", 0.5, sr=22050)
    ref, _ = _offline(model, cfg, cmvn, tmp_path / "b.wav")  # read_wav resamples to 16 kHz too
    r = client.post("/transcribe/audio", files={"file": ("b.wav", data)})
    assert r.status_code == 200 and r.json()["token_ids"] == ref.tokens


def test_query_parameters_choose_beam(audio_app, tmp_path):
    client, model, *_ = audio_app
    data = _tone_wav(tmp_path / "c.wav", 0.5)
    r = client.post("/transcribe/audio?decode_method=beam&beam_size=2", files={"file": ("c.wav", data)})
    assert r.status_code == 200 and r.json()["decode_method"] == "beam" and r.json()["beam_size"] == 2
    assert ("beam", 2, 1) in model.calls


@pytest.mark.parametrize(
    "kwargs, status, needle",
    [
        ({"files": {"file": ("notes.txt", b"hello, this is not audio at all", "text/plain")}}, 415, "notes.txt: not a WAV file"),
        ({"content": b"RIFF\x00\x00", "headers": {"content-type": "audio/wav"}}, 415, "not a WAV file"),
        ({"content": b"", "headers": {"content-type": "audio/wav"}}, 422, "the audio body is empty; expected a WAV file"),
        ({"content": b"abc", "headers": {"content-type": "text/plain"}}, 415, "Content-Type 'text/plain' is not supported"),
        ({"files": {"audio": ("a.wav", b"RIFF")}}, 422, "the multipart body has no file field named 'file'"),
        ({"content": b"x" * 200_001, "headers": {"content-type": "audio/wav"}}, 413, "max_body_bytes=200000"),
    ],
)
def test_bad_uploads(audio_app, kwargs, status, needle):
    client, *_ = audio_app
    r = client.post("/transcribe/audio", **kwargs)
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"]


def test_truncated_wav_is_415(audio_app, tmp_path):
    client, *_ = audio_app
    data = _tone_wav(tmp_path / "t.wav", 0.5)
    r = client.post("/transcribe/audio", files={"file": ("t.wav", data[: len(data) // 2])})
    assert r.status_code == 415 and "t.wav: truncated WAV" in r.json()["detail"]


def test_too_long_and_too_short_audio(audio_app, tmp_path):
    client, *_ = audio_app
    # Over max_audio_seconds: split by the VAD (tests/serve/test_long_audio.py), not refused ...
    r = client.post("/transcribe/audio", files={"file": ("long.wav", _tone_wav(tmp_path / "l.wav", 2.5))})
    assert r.status_code == 200 and r.json()["segments"], r.text
    # ... unless serve.long_audio is off.
    model, tok, cfg = stub_setup(audio=True, max_audio_seconds=2.0, long_audio=False)
    with TestClient(create_app(model, tok, cfg, "cpu", cmvn=None)) as plain:
        r = plain.post("/transcribe/audio", files={"file": ("long.wav", _tone_wav(tmp_path / "l.wav", 2.5))})
    assert r.status_code == 413
    assert "long.wav: 2.5 s of audio is longer than the limit of max_audio_seconds=2.0" in r.json()["detail"]
    r = client.post("/transcribe/audio", files={"file": ("short.wav", _tone_wav(tmp_path / "s.wav", 0.01))})
    assert r.status_code == 422
    assert "short.wav: 10 ms of audio gives 0 frames but the model needs at least 7 (25 ms + 6 x 10 ms of audio)" in r.json()["detail"]


def test_bad_query_parameters(audio_app, tmp_path):
    client, *_ = audio_app
    data = _tone_wav(tmp_path / "q.wav", 0.3)
    r = client.post("/transcribe/audio?decode_method=ctc", files={"file": ("q.wav", data)})
    assert r.status_code == 422 and "decode_method: Input should be 'greedy', 'beam', 'ctc_greedy' or 'ctc_beam' (got 'ctc')" in r.json()["detail"]
    r = client.post("/transcribe/audio?decode_method=beam&beam_size=99", files={"file": ("q.wav", data)})
    assert r.status_code == 422 and "beam_size=99 is out of range; expected 1..16" in r.json()["detail"]


def test_audio_on_a_toy_model_is_refused_clearly(client, tmp_path):
    r = client.post("/transcribe/audio", files={"file": ("a.wav", _tone_wav(tmp_path / "a.wav", 0.3))})
    assert r.status_code == 422
    assert "trained on toy feature vectors (data.dataset=toy), not on audio" in r.json()["detail"]


def test_missing_cmvn_on_an_audio_checkpoint_is_warned(caplog):
    model, tok, cfg = stub_setup(audio=True)  # features.apply_cmvn is true by default
    with caplog.at_level("WARNING", logger="paraformer_asr.serve"):
        create_app(model, tok, cfg, "cpu", cmvn=None)
    assert any("no 'cmvn' statistics" in r.getMessage() for r in caplog.records)
