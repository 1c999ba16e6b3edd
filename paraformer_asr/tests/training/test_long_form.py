"""Long recordings: VAD segments decoded in batches equal decoding each segment as its own file,
timestamps refer to the whole file, and a 10-minute file never reaches the whole-file paths."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from src.data import audio_backends
from src.data.audio import write_wav
from src.data.tokenizer import CharTokenizer
from src.models import build_model
from src.training import transcribe
from src.training.evaluate import decode_options
from src.training.long_form import LongFormTranscriber, word_separator
from src.training.transcribe import AudioTranscriber
from src.utils.config import load_config

SR = 16000


def setup(max_audio_seconds, **vad):
    cfg = load_config("configs/tiny_paraformer.yaml", ["data.dataset=manifest", "features.num_mel_bins=16",
                                                        "features.apply_cmvn=false"])
    cfg.vad = dataclasses.replace(cfg.vad, **vad)
    tok = CharTokenizer.from_alphabet()
    torch.manual_seed(0)
    model = build_model(cfg, tok.vocab_size, 16).eval()
    t = AudioTranscriber(model, tok, cfg, cmvn_state=None, decode_opts=decode_options(cfg, "greedy", 1),
                         max_audio_seconds=max_audio_seconds, device=torch.device("cpu"))
    return LongFormTranscriber(t, cfg.vad), t


def speechy(seconds, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f = 120 + 80 * np.sin(2 * math.pi * 0.7 * t)  # a gliding pitch with harmonics and noise
    phase = 2 * math.pi * np.cumsum(f) / SR
    return (0.2 * (np.sin(phase) + 0.5 * np.sin(3 * phase)) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def recording(spans, total):
    x = np.zeros(int(total * SR), dtype=np.float32)
    for i, (a, b) in enumerate(spans):
        x[int(a * SR) : int(a * SR) + int((b - a) * SR)] = speechy(b - a, i)
    return x


def test_segments_decode_as_their_own_files_with_offset_timestamps(tmp_path):
    spans = [(0.5, 2.0), (3.0, 4.2), (5.5, 7.5)]
    x = recording(spans, 8.0)
    write_wav(tmp_path / "long.wav", x, SR)
    long_form, t = setup(3.0, pad_ms=0.0, batch_size=2)
    result = long_form(tmp_path / "long.wav")
    segs = result.extra["segments"]
    assert len(segs) == 3 and result.duration == pytest.approx(8.0)
    for (a, b), seg in zip(spans, segs):
        assert abs(seg["start"] - a) <= 0.02 and abs(seg["end"] - b) <= 0.02
    # Each segment cut out and decoded alone gives the same text; its timestamps shifted by the start.
    from src.data.audio import read_wav

    wave = read_wav(tmp_path / "long.wav")
    all_stamps = []
    for i, seg in enumerate(segs):
        piece = tmp_path / f"seg{i}.wav"
        write_wav(piece, wave[int(round(seg["start"] * SR)) : int(round(seg["end"] * SR))], SR)
        alone = t(piece)
        assert seg["text"] == alone.text
        all_stamps.append([round(seg["start"] + s, 3) for s in alone.timestamps])
    texts = [s["text"] for s in segs if s["text"]]
    assert result.text == " ".join(texts)
    assert result.text == "".join(result.tokens).replace("<unk>", "")
    flat = [s for seg in all_stamps for s in seg]
    ours = [round(s, 3) for s, tok in zip(result.timestamps, result.tokens)]
    assert len(result.timestamps) == len(result.tokens)
    assert [s for s in ours] == sorted(ours) and all(0 <= s < 8.0 for s in ours)
    assert all(any(abs(o - f) < 1e-3 for o in ours) for f in flat)


def test_short_files_are_decoded_whole(tmp_path):
    write_wav(tmp_path / "a.wav", recording([(0.2, 1.0)], 1.5), SR)
    long_form, t = setup(60.0)
    result = long_form(tmp_path / "a.wav")
    assert "segments" not in result.extra and result.text == t(tmp_path / "a.wav").text


def test_segments_obey_the_per_segment_limit():
    long_form, _ = setup(5.0)  # vad.max_segment_seconds defaults to 20: clamped to the limit
    assert long_form.vad.max_segment_seconds == 5.0


def test_word_separator_follows_the_vocabulary():
    assert word_separator(CharTokenizer.from_alphabet()) == " "
    assert word_separator(CharTokenizer.build(["我们去北京"])) == ""


@pytest.mark.slow  # a 10-minute file: ~20 MB written and read twice, ~40 segments decoded
def test_ten_minutes_stream_with_bounded_inputs(tmp_path, monkeypatch):
    pattern = recording([(0.3, 6.0), (7.0, 13.5)], 15.0)
    x = np.tile(pattern, 40)  # 600 s
    path = tmp_path / "ten_minutes.wav"
    write_wav(path, x, SR)
    long_form, t = setup(60.0)

    def refuse(*args, **kwargs):
        raise AssertionError("a whole-file reader was called on the long recording")

    monkeypatch.setattr(audio_backends, "read_audio", refuse)
    monkeypatch.setattr(transcribe, "read_audio", refuse)
    sizes = {"fbank": 0, "decode": 0}
    fbank = t.fbank

    def counting_fbank(wave, **kw):
        sizes["fbank"] = max(sizes["fbank"], wave.numel())
        return fbank(wave, **kw)

    decode = t.model.decode

    def counting_decode(feats, lens, **kw):
        sizes["decode"] = max(sizes["decode"], feats.numel())
        return decode(feats, lens, **kw)

    t.fbank = counting_fbank
    monkeypatch.setattr(t.model, "decode", counting_decode)
    result = long_form(path)
    segs = result.extra["segments"]
    assert result.duration == pytest.approx(600.0) and len(segs) == 80
    assert sizes["fbank"] <= 20 * SR  # one segment (vad.max_segment_seconds) at a time
    assert sizes["decode"] <= 8 * 2000 * 16  # one batch: vad.batch_size x 20 s of frames x F
    assert segs[-1]["end"] <= 600.0 and segs[40]["start"] == pytest.approx(300.3, abs=0.12)  # offsets into the file
