"""WAV reading/writing and the windowed-sinc resampler."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from src.data.audio import AudioError, read_wav, read_wav_bytes, resample, write_wav


def tone(freq: float, sr: int, seconds: float, amp: float = 0.5) -> torch.Tensor:
    # float64 time axis: sin(2 pi f t) at t ~ seconds loses ~1e-2 rad of phase in float32
    t = torch.arange(int(sr * seconds), dtype=torch.float64) / sr
    return (amp * torch.sin(2 * math.pi * freq * t)).float()


def peak_frequency(x: torch.Tensor, sr: int) -> float:
    x = x.double()
    spec = torch.fft.rfft(x * torch.hann_window(x.numel(), dtype=torch.float64)).abs()
    return float(spec.argmax()) * sr / x.numel()


def write_pcm(path: Path, samples: np.ndarray, sr: int, width: int) -> None:
    """Write (N, C) floats in [-1, 1) as integer PCM of ``width`` bytes, encoded here by hand."""
    if width == 1:
        data = np.clip(np.round(samples * 128 + 128), 0, 255).astype(np.uint8).tobytes()
    elif width == 2:
        data = np.clip(np.round(samples * 32768), -32768, 32767).astype("<i2").tobytes()
    elif width == 3:
        ints = np.clip(np.round(samples * 2**23), -(2**23), 2**23 - 1).astype(np.int64).reshape(-1)
        data = b"".join(struct.pack("<i", int(v))[:3] for v in ints)  # low 3 bytes of two's complement
    else:
        data = np.clip(np.round(samples * 2**31), -(2**31), 2**31 - 1).astype("<i4").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(width)
        w.setframerate(sr)
        w.writeframes(data)


# --------------------------------------------------------------------------- #
# Resampler                                                                    #
# --------------------------------------------------------------------------- #
def test_resample_keeps_tone_frequency_22050_to_16000():
    x = tone(1000.0, 22050, 1.0)
    y = resample(x, 22050, 16000)
    assert y.shape == (16000,)  # ceil(22050 * 320 / 441)
    assert peak_frequency(y, 16000) == pytest.approx(1000.0, abs=1.0)
    # passband gain ~1: the amplitude survives (away from the zero-padded edges)
    assert float(y[1000:-1000].abs().max()) == pytest.approx(0.5, abs=0.01)


def test_resample_upsampling_keeps_tone_and_waveform():
    x = tone(440.0, 16000, 0.5)
    y = resample(x, 16000, 22050)
    assert y.shape == (math.ceil(8000 * 441 / 320),)
    assert peak_frequency(y, 22050) == pytest.approx(440.0, abs=2.0)
    ref = tone(440.0, 22050, 0.5)[: y.numel()]
    assert torch.allclose(y[500:-500], ref[500:-500], atol=5e-3)


def test_resample_removes_content_above_new_nyquist():
    # 10 kHz fits below 22.05 kHz's Nyquist but not below 16 kHz's (8 kHz): without the
    # low-pass it would alias to 16000 - 10000 = 6 kHz at full amplitude.
    y = resample(tone(10000.0, 22050, 1.0, amp=0.5), 22050, 16000)
    assert float(y[1000:-1000].abs().max()) < 0.5 * 10 ** (-60 / 20)  # at least 60 dB down
    # downsampling 48 kHz -> 16 kHz: a 12 kHz tone must vanish, a 2 kHz tone must stay
    y_hi = resample(tone(12000.0, 48000, 0.5), 48000, 16000)
    y_lo = resample(tone(2000.0, 48000, 0.5), 48000, 16000)
    assert float(y_hi[500:-500].abs().max()) < 0.5e-3
    assert float(y_lo[500:-500].abs().max()) == pytest.approx(0.5, abs=0.01)


def test_resample_identity_and_batch():
    x = torch.randn(2, 1000)
    row = x[0]
    assert resample(row, 16000, 16000) is row
    both = resample(x, 8000, 16000)
    assert both.shape == (2, 2000)
    assert torch.allclose(both[1], resample(x[1], 8000, 16000), atol=1e-6)


# --------------------------------------------------------------------------- #
# Reading and writing                                                          #
# --------------------------------------------------------------------------- #
def test_write_then_read_roundtrip(tmp_path):
    x = tone(300.0, 16000, 0.2)
    write_wav(tmp_path / "a.wav", x, 16000)
    y = read_wav(tmp_path / "a.wav")
    assert y.dtype == torch.float32 and y.shape == x.shape
    assert torch.allclose(y, x, atol=1.0 / 32767)  # one 16-bit step
    assert torch.equal(read_wav_bytes((tmp_path / "a.wav").read_bytes(), "a.wav"), y)


def test_stereo_equals_mono_mix(tmp_path):
    left, right = tone(300.0, 16000, 0.2, amp=0.6), tone(1200.0, 16000, 0.2, amp=0.3)
    write_wav(tmp_path / "stereo.wav", torch.stack([left, right], dim=1), 16000)
    write_wav(tmp_path / "left.wav", left, 16000)
    write_wav(tmp_path / "right.wav", right, 16000)
    mix = (read_wav(tmp_path / "left.wav") + read_wav(tmp_path / "right.wav")) / 2
    assert torch.allclose(read_wav(tmp_path / "stereo.wav"), mix, atol=1e-7)


@pytest.mark.parametrize("width, step", [(1, 1 / 128), (3, 2.0**-23), (4, 2.0**-31)])
def test_other_bit_depths_equal_16_bit(tmp_path, width, step):
    x = tone(500.0, 16000, 0.1, amp=0.7).double().numpy()[:, None]  # (N, 1)
    write_pcm(tmp_path / "ref.wav", x, 16000, 2)
    write_pcm(tmp_path / f"w{width}.wav", x, 16000, width)
    ref = read_wav(tmp_path / "ref.wav")
    got = read_wav(tmp_path / f"w{width}.wav")
    # each file is within half its own quantisation step of x
    assert np.abs(got.double().numpy() - x[:, 0]).max() <= step / 2 + 1e-7
    assert torch.allclose(got, ref, atol=step / 2 + 0.5 / 32768 + 1e-7)


def test_non_16k_file_is_resampled(tmp_path):
    write_wav(tmp_path / "a.wav", tone(1000.0, 22050, 0.5), 22050)
    y = read_wav(tmp_path / "a.wav", target_sr=16000)
    assert y.shape == (8000,)
    assert peak_frequency(y, 16000) == pytest.approx(1000.0, abs=2.0)
    assert read_wav(tmp_path / "a.wav", target_sr=None).shape == (11025,)


# --------------------------------------------------------------------------- #
# Errors name the file                                                         #
# --------------------------------------------------------------------------- #
def float_wav_bytes(n: int = 100) -> bytes:
    data = np.zeros(n, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 16000 * 4, 4, 32)  # format tag 3 = IEEE float
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def extensible_wav_bytes(pcm: bytes, *, sub_tag: int, channels: int, width: int, sr: int = 16000) -> bytes:
    """WAVE_FORMAT_EXTENSIBLE header (as sox and Audacity write for 24-bit), built by hand."""
    guid = struct.pack("<H", sub_tag) + bytes.fromhex("000000001000800000AA00389B71")
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, sr, sr * channels * width, channels * width, 8 * width, 22, 8 * width, 0)
    fmt += guid
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_extensible_pcm_reads_like_plain_pcm(tmp_path):
    x = tone(500.0, 16000, 0.1, amp=0.7).double().numpy()[:, None]  # (N, 1)
    write_pcm(tmp_path / "plain.wav", x, 16000, 3)
    plain = (tmp_path / "plain.wav").read_bytes()
    pcm = plain[plain.index(b"data") + 8 :]
    ext = extensible_wav_bytes(pcm, sub_tag=1, channels=1, width=3)
    assert torch.equal(read_wav_bytes(ext, "ext.wav"), read_wav(tmp_path / "plain.wav"))
    with pytest.raises(AudioError, match=r"ext_float\.wav: .*float"):
        read_wav_bytes(extensible_wav_bytes(bytes(400), sub_tag=3, channels=1, width=4), "ext_float.wav")


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="nope.wav.*not found"):
        read_wav(tmp_path / "nope.wav")


def test_non_wav_file(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("this is a text file, not audio\n")
    with pytest.raises(AudioError, match=r"notes\.wav: not a WAV file"):
        read_wav(p)


def test_float_wav_is_rejected_with_hint(tmp_path):
    p = tmp_path / "float.wav"
    p.write_bytes(float_wav_bytes())
    with pytest.raises(AudioError, match=r"float\.wav: .*float.*not supported.*16-bit"):
        read_wav(p)


def test_truncated_wav(tmp_path):
    write_wav(tmp_path / "full.wav", tone(300.0, 16000, 0.2), 16000)
    data = (tmp_path / "full.wav").read_bytes()
    p = tmp_path / "cut.wav"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match=r"cut\.wav: truncated"):
        read_wav(p)


@pytest.mark.parametrize("placeholder", [0xFFFFFFFF, 0x7FFFF000])
def test_streaming_placeholder_size_reads_to_end(tmp_path, placeholder):
    x = tone(300.0, 16000, 0.1)
    write_wav(tmp_path / "a.wav", x, 16000)
    data = bytearray((tmp_path / "a.wav").read_bytes())
    pos = data.index(b"data")
    data[pos + 4 : pos + 8] = struct.pack("<I", placeholder)  # "unknown length", as pipe writers leave it
    assert torch.equal(read_wav_bytes(bytes(data), "pipe.wav"), read_wav(tmp_path / "a.wav"))


def test_corrupt_header(tmp_path):
    p = tmp_path / "corrupt.wav"
    p.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk\xff\xff")
    with pytest.raises(AudioError, match=r"corrupt\.wav"):
        read_wav(p)


def test_read_wav_bytes_names_the_upload():
    with pytest.raises(AudioError, match="upload.mp3"):
        read_wav_bytes(b"ID3\x03\x00\x00\x00" + bytes(100), "upload.mp3")
