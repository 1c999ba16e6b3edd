"""FLAC / MP3 / OGG through ffmpeg (files written here by ffmpeg), WAV through our reader, streaming blocks."""

import shutil
import subprocess

import numpy as np
import pytest
import torch

from src.data import audio_backends
from src.data.audio import AudioError, read_wav, write_wav
from src.data.audio_backends import audio_duration, flac_streaminfo, iter_blocks, read_audio

needs_ffmpeg = pytest.mark.skipif(not audio_backends.ffmpeg_available(),
                                  reason="ffmpeg/ffprobe not on the PATH (apt-get install ffmpeg)")
SR = 16000


def _signal(seconds: float, sr: int = SR, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1234 * t)
    if channels == 1:
        return x.astype(np.float32)
    return np.stack([x, 0.5 * x], axis=1).astype(np.float32)  # (N, 2)


def _encode(src, dst, *args):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), *args, str(dst)], check=True)


@needs_ffmpeg
def test_flac_is_lossless_and_its_header_gives_the_exact_length(tmp_path):
    wav, flac = tmp_path / "a.wav", tmp_path / "a.flac"
    write_wav(wav, _signal(1.2345, sr=22050, channels=2), 22050)
    _encode(wav, flac)
    assert flac_streaminfo(flac) == (22050, int(1.2345 * 22050))
    assert audio_duration(flac) == pytest.approx(int(1.2345 * 22050) / 22050)
    # Same samples, same channel average, same resampler as the WAV path.
    assert torch.equal(read_audio(flac, 16000), read_wav(wav, 16000))
    assert torch.equal(read_audio(flac, None), read_wav(wav, None))


@needs_ffmpeg
@pytest.mark.parametrize("suffix,args", [(".mp3", ["-b:a", "128k"]), (".ogg", ["-c:a", "libvorbis"])])
def test_lossy_formats_decode_close_to_the_original(tmp_path, suffix, args):
    wav, lossy = tmp_path / "a.wav", tmp_path / f"a{suffix}"
    x = _signal(1.0)
    write_wav(wav, x, SR)
    _encode(wav, lossy, *args)
    y = read_audio(lossy, SR).numpy()
    assert abs(len(y) - len(x)) < 0.06 * SR  # encoder padding / priming samples
    # Lossy codecs shift by their priming delay: compare at the best lag (found by cross-correlation).
    a, b = x[2000:-2000], y[1000 : len(x) - 1000]
    lag = int(np.argmax(np.correlate(b, a, mode="valid")))  # a's offset inside b
    assert np.corrcoef(a, b[lag : lag + len(a)])[0, 1] > 0.99
    assert audio_duration(lossy) == len(y) / SR  # counted, not estimated


@needs_ffmpeg
@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_blocks_concatenate_to_the_whole_file(tmp_path, suffix):
    wav = tmp_path / "a.wav"
    write_wav(wav, _signal(0.7, channels=2), SR)
    path = wav
    if suffix == ".flac":
        path = tmp_path / "a.flac"
        _encode(wav, path)
    blocks = list(iter_blocks(path, 1000))
    assert all(b.numel() == 1000 for b in blocks[:-1]) and 0 < blocks[-1].numel() <= 1000
    assert torch.equal(torch.cat(blocks), read_wav(wav, None))


def test_missing_ffmpeg_names_the_install_command(tmp_path, monkeypatch):
    path = tmp_path / "a.flac"
    path.write_bytes(b"fLaC" + bytes(100))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(AudioError, match="needs ffmpeg.*apt-get install ffmpeg"):
        read_audio(path)
    write_wav(tmp_path / "b.wav", _signal(0.1), SR)  # WAV never needs it
    assert read_audio(tmp_path / "b.wav").numel() == int(0.1 * SR)


def test_unknown_suffix_and_missing_file_are_errors(tmp_path):
    (tmp_path / "a.xyz").write_bytes(b"abc")
    with pytest.raises(AudioError, match="unknown audio type '.xyz'"):
        read_audio(tmp_path / "a.xyz")
    with pytest.raises(AudioError, match="not found"):
        read_audio(tmp_path / "missing.flac")


@needs_ffmpeg
def test_a_corrupt_flac_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "bad.flac"
    path.write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioError, match="bad.flac"):
        read_audio(path)
