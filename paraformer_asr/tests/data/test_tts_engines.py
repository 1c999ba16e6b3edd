"""src/data/tts/{espeak,flite,festival}.py and render.py: each installed engine speaks; levels, silence, SNR."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from src.data.audio import read_wav, read_wav_info
from src.data.tts import ENGINES, build, festival, flite, render
from src.data.tts.plan import VOICES
from src.data.tts.render import Utterance, make_one, manifest_line

# One voice per engine that is never used for training, plus one that is (where there is one).
ENGINE_VOICES = [
    ("espeak-ng", VOICES["espeak-ng"]["train"][0], 60),
    ("espeak-ng", VOICES["espeak-ng"]["test"][0], 40),
    ("flite", "awb", None),
    ("flite", "kal", None),  # 8 kHz: resampled to 16 kHz
    ("festival", "kal_diphone", None),
    ("festival", "cmu_us_slt_arctic_hts", None),  # 32 kHz
]


def utterance(engine: str, voice: str, pitch: int | None, **kw) -> Utterance:
    fields = dict(index=3, split="test", text="the quick brown fox", engine=engine, voice=voice, speed=1.0, pitch=pitch,
                  lead_silence_s=0.2, trail_silence_s=0.1, snr_db=None, peak_dbfs=-6.0)  # fmt: skip
    return Utterance(**(fields | kw))


@pytest.mark.parametrize("engine, voice, pitch", ENGINE_VOICES)
def test_engine_speaks(tmp_path, engine, voice, pitch):
    exe = ENGINES[engine].find()
    if exe is None:
        pytest.skip(f"{engine} is not installed: {ENGINES[engine].INSTALL_HINT.splitlines()[-2].strip()}")
    if ENGINES[engine].missing_voices(exe, [voice]):
        pytest.skip(f"{engine} lacks the voice {voice} (see src/data/tts/build.py VOICE_PACKAGES)")
    utt = utterance(engine, voice, pitch)
    line = make_one((utt, 0, str(tmp_path), {engine: exe}))
    wav = tmp_path / line["audio_filepath"]
    sr, channels, width, frames = read_wav_info(wav)
    assert (sr, channels, width) == (16000, 1, 2)
    assert line["duration"] == pytest.approx(frames / 16000, abs=1e-3) and 0.5 < line["duration"] < 5
    x = read_wav(wav)
    assert 20 * math.log10(float(x.abs().max())) == pytest.approx(-6.0, abs=0.05)  # the planned peak level
    assert float(x[:3200].abs().max()) == 0.0 and float(x[-1600:].abs().max()) == 0.0  # digital silence
    assert float(x[3200:-1600].square().mean().sqrt()) > 0.01  # speech in between
    assert (line["engine"], line["voice"], line["snr_db"]) == (engine, voice, None)


@pytest.mark.parametrize("engine, voice", [("espeak-ng", "en-us+m1"), ("flite", "rms"), ("festival", "ked_diphone")])
def test_slower_speech_is_longer(tmp_path, engine, voice):
    exe = ENGINES[engine].find()
    if exe is None or ENGINES[engine].missing_voices(exe, [voice]):
        pytest.skip(f"{engine} with voice {voice} is not installed")
    pitch = 50 if engine == "espeak-ng" else None
    slow = render.synthesize(utterance(engine, voice, pitch, speed=0.8, lead_silence_s=0, trail_silence_s=0), 0, exe)
    fast = render.synthesize(utterance(engine, voice, pitch, speed=1.25, lead_silence_s=0, trail_silence_s=0), 0, exe)
    assert slow.numel() > 1.3 * fast.numel()


class ToneEngine:
    """A stand-in engine that 'says' a 440 Hz tone at 22.05 kHz, so the rendering maths can be checked exactly."""

    NAME = "tone"

    @staticmethod
    def synthesize(exe, *, text, voice, speed, pitch, out: Path) -> None:
        t = np.arange(int(22050 * 1.5)) / 22050
        pcm = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
        with wave.open(str(out), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(22050), w.writeframes(pcm.tobytes())


@pytest.mark.parametrize("snr_db", [20.0, 35.0])
def test_noise_has_the_planned_snr_and_the_output_the_planned_peak(monkeypatch, snr_db):
    monkeypatch.setattr(render, "engine", lambda name: ToneEngine)
    clean = render.synthesize(utterance("tone", "x", None, snr_db=None, peak_dbfs=-1.0), 0, "")
    noisy = render.synthesize(utterance("tone", "x", None, snr_db=snr_db, peak_dbfs=-12.0), 0, "")
    assert noisy.numel() == clean.numel() == round(1.5 * 16000) + 3200 + 1600
    assert 20 * math.log10(float(noisy.abs().max())) == pytest.approx(-12.0, abs=1e-4)
    # noisy = g (s + n): project onto the clean signal for g, the rest is the noise.
    s, y = clean.double(), noisy.double()
    g = float(y @ s / (s @ s))
    n = y / g - s
    speech = slice(3200, s.numel() - 1600)
    measured = 10 * math.log10(float(s[speech].square().mean() / n.square().mean()))
    assert measured == pytest.approx(snr_db, abs=0.1)
    assert float(n[:3200].std()) == pytest.approx(float(n[speech].std()), rel=0.1)  # noise over the padding too
    again = render.synthesize(utterance("tone", "x", None, snr_db=snr_db, peak_dbfs=-12.0), 0, "")
    other = render.synthesize(utterance("tone", "x", None, snr_db=snr_db, peak_dbfs=-12.0, index=4), 0, "")
    assert torch.equal(noisy, again) and not torch.equal(noisy, other)  # noise from (seed, index)


def test_manifest_line_records_the_conditions():
    line = manifest_line(utterance("espeak-ng", "en-us+m7", 40, speed=160 / 175, snr_db=23.456), 16000)
    assert line["rate_wpm"] == 160 and line["pitch"] == 40 and line["snr_db"] == 23.46
    assert line["duration"] == 1.0 and line["lead_silence_s"] == 0.2 and line["peak_dbfs"] == -6.0
    assert (line["snr_band"], line["silence_band"]) == ("20-30 dB", "0-0.25 s")
    clean = manifest_line(utterance("flite", "slt", None, lead_silence_s=0.0, trail_silence_s=0.3), 8000)
    assert clean["rate_wpm"] is None and (clean["snr_band"], clean["silence_band"]) == ("clean", "0.25-0.5 s")
    assert render.snr_band(30.0) == "30-40 dB" and render.snr_band(29.99) == "20-30 dB"
    assert render.silence_band(0.0, 0.0) == "none"


def test_a_missing_voice_names_its_package(monkeypatch):
    monkeypatch.setattr(festival, "known_voices", lambda exe: {"kal_diphone"})
    plan = [utterance("festival", "kal_diphone", None), utterance("festival", "ked_diphone", None)]
    with pytest.raises(build.VoiceMissingError, match="ked_diphone.*apt-get install festvox-kdlpc16k"):
        build.check_voices(plan, {"festival": "text2wave"})
    monkeypatch.setattr(flite, "known_voices", lambda exe: set())
    with pytest.raises(build.VoiceMissingError, match="flite lacks the voice\\(s\\) slt"):
        build.check_voices([utterance("flite", "slt", None)], {"flite": "flite"})


def test_flite_voice_listing_is_parsed(monkeypatch):
    import subprocess

    out = "Voices available: kal awb_time kal16 awb rms slt \n"
    monkeypatch.setattr(flite.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, out, ""))
    assert flite.known_voices("flite") == {"kal", "awb_time", "kal16", "awb", "rms", "slt"}
    assert flite.missing_voices("flite", ["slt", "ked"]) == ["ked"]
