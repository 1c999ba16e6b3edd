"""Compressed audio (FLAC, MP3, OGG/Opus, M4A ...) through ``ffmpeg``; WAV through our own reader.

Decoding a compressed format is I/O, like reading a PNG: we hand it to ``ffmpeg``
(on the PATH; a system package everywhere: apt, brew, conda, winget) and ask for
raw 32-bit float samples at the file's own rate and channel count. Everything after
that stays ours: the channel average and :func:`src.data.audio.resample` as for WAV,
then fbank and CMVN. ``ffmpeg`` was chosen over a Python binding (``soundfile``) because
it needs no new Python dependency, reads every format the corpora ship (LibriSpeech
FLAC, Common Voice MP3, OGG/Opus, M4A) and streams: long files are decoded through a
pipe block by block, so memory does not grow with the recording (see :func:`iter_blocks`).

Durations for manifests come from headers without decoding: WAV's header, FLAC's
STREAMINFO block (exact sample count), otherwise ``ffprobe``.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from src.data.audio import AudioError, _decode_wav, _fmt_payload_offset, _pcm_to_float, read_wav, read_wav_info, resample

WAV_SUFFIXES = (".wav", ".wave")
COMPRESSED_SUFFIXES = (".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".webm")
AUDIO_SUFFIXES = WAV_SUFFIXES + COMPRESSED_SUFFIXES
INSTALL_HINT = (
    "install ffmpeg and put it on the PATH: `sudo apt-get install ffmpeg` (Debian/Ubuntu), `brew install ffmpeg` "
    "(macOS) or `conda install -c conda-forge ffmpeg`; or convert the file to 16-bit PCM WAV elsewhere"
)


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def _need_ffmpeg(path: Path) -> None:
    if not ffmpeg_available():
        raise AudioError(f"{path}: reading {path.suffix or 'this'} audio needs ffmpeg and ffprobe, which are not on the PATH; {INSTALL_HINT}")


def is_wav(path: str | Path) -> bool:
    return Path(path).suffix.lower() in WAV_SUFFIXES


def _check_suffix(path: Path) -> None:
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        raise AudioError(f"{path}: unknown audio type {path.suffix!r}; expected one of {', '.join(AUDIO_SUFFIXES)}")


def probe(path: str | Path) -> tuple[int, int, float | None]:
    """``(sample_rate, channels, duration seconds or None)`` of the first audio stream, from ffprobe."""
    path = Path(path)
    _need_ffmpeg(path)
    cmd = ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
           "stream=sample_rate,channels,duration:format=duration", "-of", "json", str(path)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise AudioError(f"{path}: ffprobe cannot read it ({res.stderr.strip()[:200] or 'no message'}); is it an audio file?")
    info = json.loads(res.stdout or "{}")
    streams = info.get("streams") or []
    if not streams:
        raise AudioError(f"{path}: the file has no audio stream")
    stream = streams[0]
    duration = stream.get("duration") or (info.get("format") or {}).get("duration")
    return int(stream["sample_rate"]), int(stream["channels"]), float(duration) if duration not in (None, "N/A") else None


def flac_streaminfo(path: str | Path) -> tuple[int, int] | None:
    """``(sample_rate, total_samples)`` from a FLAC file's STREAMINFO block, or None if it does not start with one.

    STREAMINFO (FLAC format spec, section "METADATA_BLOCK_STREAMINFO") follows the 4-byte
    ``fLaC`` marker and a 4-byte block header; its bytes 10..17 pack sample rate (20
    bits), channels - 1 (3), bits per sample - 1 (5) and the total sample count (36).
    """
    with open(path, "rb") as f:
        head = f.read(42)
    if len(head) < 42 or head[:4] != b"fLaC" or head[4] & 0x7F != 0:
        return None
    packed = int.from_bytes(head[8 + 10 : 8 + 18], "big")
    sample_rate = packed >> 44
    total = packed & ((1 << 36) - 1)
    if sample_rate == 0 or total == 0:  # 0 total samples means "unknown" in the spec
        return None
    return sample_rate, total


def audio_duration(path: str | Path, *, exact: bool = True) -> float:
    """Seconds of audio: WAV header, FLAC STREAMINFO, else (MP3, OGG, ...) decoded and counted.

    MP3 has no sample count in its header and ffprobe's estimate from the bit rate can be
    off by tens of ms; ``exact=False`` accepts that estimate (a limit check, not a manifest).
    Counting streams the decode (flat memory).
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    _check_suffix(path)
    if is_wav(path):
        try:
            sr, channels, width, frames = read_wav_info(path)
            if frames * channels * width <= path.stat().st_size:  # else a streaming writer's placeholder size
                return frames / sr
        except AudioError:
            pass  # a header `wave` cannot parse (e.g. extensible): read_wav reads it or names the problem
        with_rate = read_wav(path, target_sr=None)
        return with_rate.numel() / _wav_rate_any(path)
    if path.suffix.lower() == ".flac" and (info := flac_streaminfo(path)) is not None:
        return info[1] / info[0]
    if not exact:
        sr, _, seconds = probe(path)
        if seconds is not None:
            return seconds
    sr, blocks = open_stream(path, 1 << 20)
    return sum(b.numel() for b in blocks) / sr


def _wav_rate_any(path: Path) -> int:
    """Sample rate from the fmt chunk (bytes 4..8 of its payload), for headers `wave` refuses."""
    data = path.read_bytes()[:4096]
    fmt = _fmt_payload_offset(data)
    if fmt is None:
        raise AudioError(f"{path}: no fmt chunk in the WAV header")
    return struct.unpack("<I", data[fmt + 4 : fmt + 8])[0]


def _ffmpeg_cmd(path: Path) -> list[str]:
    # A WAV of 32-bit integer PCM on stdout: the header tells rate and channels (no
    # ffprobe call), and 32 bits hold 16/24-bit FLAC exactly and MP3 far below audibility.
    # -map 0:a:0: the first audio stream only (an MP3's cover art is a video stream).
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:a:0",
            "-f", "wav", "-acodec", "pcm_s32le", "-"]


def _ffmpeg_error(path: Path, stderr: bytes) -> AudioError:
    return AudioError(f"{path}: ffmpeg cannot decode it ({stderr.decode(errors='replace').strip()[:200] or 'no message'}); is it an audio file?")


def decode_compressed(path: str | Path) -> tuple[torch.Tensor, int]:
    """((N,) float32 mono at the file's rate, rate) through ffmpeg; channels averaged as for WAV."""
    path = Path(path)
    _need_ffmpeg(path)
    res = subprocess.run(_ffmpeg_cmd(path), capture_output=True)
    if res.returncode != 0 or not res.stdout:
        raise _ffmpeg_error(path, res.stderr)
    return _decode_wav(res.stdout, str(path))


def decode_bytes(data: bytes, name: str) -> tuple[torch.Tensor, int]:
    """Compressed audio held in memory (an HTTP upload) -> ((N,) float32 mono at its rate, rate), via ffmpeg's stdin."""
    if not ffmpeg_available():
        raise AudioError(f"{name}: decoding compressed audio (FLAC, MP3, OGG, ...) needs ffmpeg and ffprobe, which are not on the PATH; {INSTALL_HINT}")
    cmd = _ffmpeg_cmd(Path("pipe:0"))
    res = subprocess.run(cmd, input=data, capture_output=True)
    if res.returncode != 0 or not res.stdout:
        raise _ffmpeg_error(Path(name), res.stderr)
    return _decode_wav(res.stdout, name)


def read_audio(path: str | Path, target_sr: int | None = 16000) -> torch.Tensor:
    """Any supported file -> (N,) float32 mono at ``target_sr`` (None keeps the file's rate).

    WAV goes through :func:`src.data.audio.read_wav` (no ffmpeg needed); other suffixes
    through ffmpeg. Resampling is ours in both cases.
    """
    path = Path(path)
    if is_wav(path):
        return read_wav(path, target_sr)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    _check_suffix(path)
    wave_t, sr = decode_compressed(path)
    if target_sr is not None and sr != target_sr:
        wave_t = resample(wave_t, sr, target_sr)
    return wave_t


def open_stream(path: str | Path, block_samples: int) -> tuple[int, Iterator[torch.Tensor]]:
    """``(sample rate, blocks)``: (n,) float32 mono blocks of ``block_samples`` (the last may be
    shorter) at the file's own rate. Iterate the blocks to the end (or ``close()`` them).

    Memory is one block, whatever the file's length: a WAV is read with ``wave`` block by
    block, other formats come through ffmpeg's stdout pipe as 32-bit PCM WAV.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    if is_wav(path):
        try:
            sr = read_wav_info(path)[0]
        except AudioError:
            sr = _wav_rate_any(path)
        return sr, _wav_blocks(path, block_samples)
    _check_suffix(path)
    _need_ffmpeg(path)
    proc = subprocess.Popen(_ffmpeg_cmd(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    header = _read_wav_stream_header(proc.stdout)
    if header is None:
        err = proc.stderr.read()
        proc.wait()
        raise _ffmpeg_error(path, err)
    sr, channels = header
    return sr, _pipe_blocks(proc, path, channels, block_samples)


def iter_blocks(path: str | Path, block_samples: int) -> Iterator[torch.Tensor]:
    """The blocks of :func:`open_stream` without the rate."""
    yield from open_stream(path, block_samples)[1]


def _pipe_blocks(proc: subprocess.Popen, path: Path, channels: int, block_samples: int) -> Iterator[torch.Tensor]:
    try:
        frame_bytes = 4 * channels
        while True:
            raw = proc.stdout.read(block_samples * frame_bytes)
            if not raw:
                break
            x = _pcm_to_float(raw[: len(raw) - len(raw) % frame_bytes], 4, channels)  # (n, C)
            yield torch.from_numpy(np.ascontiguousarray(x.mean(axis=1), dtype=np.float32))
        err = proc.stderr.read()
        if proc.wait() != 0:
            raise _ffmpeg_error(path, err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _read_wav_stream_header(stream) -> tuple[int, int] | None:
    """Read a piped WAV header up to its ``data`` chunk; ``(sample rate, channels)``, None if not a WAV."""
    head = stream.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    fmt = None
    while True:
        chunk = stream.read(8)
        if len(chunk) < 8:
            return None
        chunk_id, size = struct.unpack("<4sI", chunk)
        if chunk_id == b"data":
            return fmt
        payload = stream.read(size + (size & 1))
        if chunk_id == b"fmt ":
            channels, sr = struct.unpack("<HI", payload[2:8])
            fmt = (sr, channels)


def _wav_blocks(path: Path, block_samples: int) -> Iterator[torch.Tensor]:
    """WAV blocks with the same rules as read_wav (integer PCM only; extensible/streaming headers are read whole)."""
    try:
        w = wave.open(str(path), "rb")
    except (wave.Error, EOFError, struct.error):
        # Formats `wave` refuses (float, extensible 24-bit, ...): read_wav gives the precise
        # error or reads it; such files are then held in memory once.
        wave_t = read_wav(path, target_sr=None)
        for start in range(0, wave_t.numel(), block_samples):
            yield wave_t[start : start + block_samples]
        return
    with w:
        nch, width, nframes = w.getnchannels(), w.getsampwidth(), w.getnframes()
        if width not in (1, 2, 3, 4):
            raise AudioError(f"{path}: {8 * width}-bit samples are not supported (8/16/24/32-bit PCM are)")
        if nframes * nch * width > path.stat().st_size:
            nframes = (path.stat().st_size - 44) // (nch * width)  # a streaming writer's placeholder size
        done = 0
        while done < nframes:
            raw = w.readframes(min(block_samples, nframes - done))
            if not raw:
                break
            raw = raw[: len(raw) - len(raw) % (nch * width)]
            x = _pcm_to_float(raw, width, nch)  # (n, C)
            done += x.shape[0]
            yield torch.from_numpy(np.ascontiguousarray(x.mean(axis=1) if nch > 1 else x[:, 0], dtype=np.float32))
