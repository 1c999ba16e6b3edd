"""WAV input/output with the standard library, and a windowed-sinc resampler.

``read_wav`` accepts uncompressed integer PCM (8-bit unsigned, 16/24/32-bit signed),
any number of channels (mixed down by averaging) and any sample rate (resampled to
``target_sr`` with :func:`resample`). Everything else (float WAVs, compressed
formats, files that are not WAV, truncated files) raises :class:`AudioError` with
the file's name and what to do about it.
"""

from __future__ import annotations

import functools
import io
import math
import struct
import wave
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

_STREAMING_DATA_SIZE = 0x7FFF0000  # a declared data chunk this large (~2 GiB) is a placeholder
_FORMAT_NAMES = {3: "32/64-bit float", 6: "A-law", 7: "mu-law", 0xFFFE: "WAVE_FORMAT_EXTENSIBLE", 0x55: "MP3"}


class AudioError(ValueError):
    """An audio file cannot be read; the message names the file and the fix."""


def _convert_hint(name: str) -> str:
    return f"convert it to 16-bit PCM WAV, e.g. `sox {name} -b 16 -e signed-integer out.wav` or `ffmpeg -i {name} -c:a pcm_s16le out.wav`"


def _fmt_payload_offset(data: bytes) -> int | None:
    """Byte offset of the ``fmt `` chunk's payload (its format tag), or None if absent."""
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = struct.unpack("<4sI", data[pos : pos + 8])
        if chunk_id == b"fmt ":
            return pos + 8 if pos + 10 <= len(data) else None
        pos += 8 + size + (size & 1)  # chunks are word-aligned
    return None


def _pcm_to_float(raw: bytes, sampwidth: int, nchannels: int) -> np.ndarray:
    """Interleaved little-endian PCM bytes -> (N, C) float32 in [-1, 1)."""
    if sampwidth == 1:
        # 8-bit WAV is unsigned with its zero at 128 (the only unsigned width in WAV).
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif sampwidth == 2:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif sampwidth == 3:
        # 24-bit: place the 3 bytes in the top of an int32, then an arithmetic shift
        # right by 8 sign-extends them.
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)  # (N*C, 3)
        x = ((b[:, 0] << 8) | (b[:, 1] << 16) | (b[:, 2] << 24)) >> 8
        x = x.astype(np.float32) / float(1 << 23)
    elif sampwidth == 4:
        x = (np.frombuffer(raw, dtype="<i4").astype(np.float64) / float(1 << 31)).astype(np.float32)
    else:
        raise ValueError(f"unsupported sample width {sampwidth}")
    return x.reshape(-1, nchannels)  # (N, C)


def _decode_wav(data: bytes, name: str) -> tuple[torch.Tensor, int]:
    """Decode WAV bytes; returns ((N,) float32 mono, sample rate)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError(f"{name}: not a WAV file (no RIFF/WAVE header); {_convert_hint(name)}")
    fmt = _fmt_payload_offset(data)
    tag = struct.unpack("<H", data[fmt : fmt + 2])[0] if fmt is not None else None
    if tag == 0xFFFE and fmt is not None and fmt + 26 <= len(data):
        # WAVE_FORMAT_EXTENSIBLE (common for 24-bit and multichannel files) keeps the real
        # format in the first two bytes of its SubFormat GUID, 24 bytes into the payload.
        tag = struct.unpack("<H", data[fmt + 24 : fmt + 26])[0]
        if tag == 1:
            # Integer PCM after all: relabel it as plain PCM, which Python < 3.12's `wave` reads.
            data = data[:fmt] + struct.pack("<H", 1) + data[fmt + 2 :]
    if tag is not None and tag != 1:
        kind = _FORMAT_NAMES.get(tag, f"format tag {tag}")
        raise AudioError(f"{name}: {kind} WAV is not supported, only integer PCM; {_convert_hint(name)}")
    fileobj = io.BytesIO(data)
    try:
        with wave.open(fileobj, "rb") as w:
            nch, width, sr, nframes = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(nframes)
    except (wave.Error, EOFError, struct.error) as e:
        raise AudioError(f"{name}: corrupt WAV header ({e}); {_convert_hint(name)}") from None
    if width not in (1, 2, 3, 4):
        raise AudioError(f"{name}: {8 * width}-bit samples are not supported (8/16/24/32-bit PCM are); {_convert_hint(name)}")
    if nch < 1 or sr <= 0:
        raise AudioError(f"{name}: corrupt WAV header ({nch} channels, {sr} Hz)")
    expected = nframes * nch * width
    if expected >= _STREAMING_DATA_SIZE:
        # Streaming writers (`espeak-ng --stdout` writes 0x7FFFF000, ffmpeg to a pipe
        # 0xFFFFFFFF) cannot seek back to fill in the data size and leave a ~2-4 GiB
        # placeholder instead: take the samples that are there.
        expected = len(raw) - len(raw) % (nch * width)
    if len(raw) < expected:
        # The header promises more data than the file holds: a cut-off download or copy.
        raise AudioError(
            f"{name}: truncated WAV, the header announces {nframes} frames but only "
            f"{len(raw) // (nch * width)} are present; re-create or re-download the file"
        )
    x = _pcm_to_float(raw[:expected], width, nch)  # (N, C)
    mono = x.mean(axis=1) if nch > 1 else x[:, 0]  # (N,) average, so a mono file duplicated to stereo reads back unchanged
    return torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32)), sr


def read_wav_bytes(data: bytes, name: str = "<bytes>", target_sr: int | None = 16000) -> torch.Tensor:
    """Decode WAV bytes (e.g. an HTTP upload) to (N,) float32 mono at ``target_sr``.

    ``name`` is only used in error messages. ``target_sr=None`` keeps the file's rate.
    """
    wave_t, sr = _decode_wav(data, name)
    if target_sr is not None and sr != target_sr:
        wave_t = resample(wave_t, sr, target_sr)
    return wave_t


def read_wav(path: str | Path, target_sr: int | None = 16000) -> torch.Tensor:
    """Read a PCM WAV file as (N,) float32 mono in [-1, 1], resampled to ``target_sr``."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    return read_wav_bytes(path.read_bytes(), str(path), target_sr)


def read_wav_info(path: str | Path) -> tuple[int, int, int, int]:
    """(sample_rate, channels, sample_width_bytes, num_frames) from the header only."""
    try:
        with wave.open(str(path), "rb") as w:
            return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
    except (wave.Error, EOFError, struct.error, OSError) as e:
        raise AudioError(f"{path}: cannot read WAV header ({e})") from None


def write_wav(path: str | Path, wave_t: torch.Tensor | np.ndarray, sr: int) -> None:
    """Write (N,) mono or (N, C) samples in [-1, 1] as 16-bit PCM (values are clipped)."""
    x = torch.as_tensor(wave_t, dtype=torch.float32).detach().cpu()
    if x.dim() == 1:
        x = x.unsqueeze(1)  # (N, 1)
    if x.dim() != 2:
        raise ValueError(f"write_wav expects (N,) or (N, C) samples, got shape {tuple(x.shape)}")
    # round-to-nearest onto the int16 grid; 32767 (not 32768) keeps +1.0 representable
    pcm = (x.clamp(-1.0, 1.0) * 32767.0).round().to(torch.int16).numpy()  # (N, C)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(int(sr))
        w.writeframes(pcm.astype("<i2").tobytes())


# --------------------------------------------------------------------------- #
# Resampling                                                                   #
# --------------------------------------------------------------------------- #
@functools.lru_cache(maxsize=16)  # one filter bank per rate pair; building it costs as much as filtering
def _sinc_kernel(orig: int, new: int, *, zeros: int, rolloff: float, beta: float) -> tuple[torch.Tensor, int]:
    """Polyphase windowed-sinc filter bank for the reduced ratio new/orig.

    Band-limited interpolation: a signal sampled at rate ``orig`` (samples x[k] at
    times k/orig) and low-passed at ``fc`` Hz is, at any time t,

        y(t) = sum_k x[k] * (2 fc / orig) * sinc(2 fc (t - k/orig)),  sinc(u) = sin(pi u)/(pi u).

    (With fc = orig/2 this is Shannon's reconstruction formula.) To avoid aliasing,
    fc must lie below both Nyquist frequencies: fc = rolloff * min(orig, new) / 2; the
    roll-off leaves room for the filter's transition band below the new Nyquist.
    The sinc is truncated to ``zeros`` zero crossings on each side and tapered with a
    Kaiser window, which trades the sharp truncation's ~-21 dB side lobes for about
    -80 dB at beta = 8.

    Output sample n sits at t = n/new. Writing n = q*new + p, its time relative to
    input sample q*orig + j - W is p/new - (j - W)/orig, which does not depend on q.
    So each output phase p has one fixed kernel over the input window j, and all
    outputs come from a single conv1d with stride ``orig``: channel p of output
    column q is output sample q*new + p.

    Returns:
        kernel (new, 1, K) and the left padding W.
    """
    fc = rolloff * min(orig, new) / 2.0
    half_width = zeros / (2.0 * fc)  # seconds (in the reduced time unit) on each side of the centre
    pad = math.ceil(half_width * orig)  # W: input samples needed before the block start
    j = torch.arange(2 * pad + orig, dtype=torch.float64)  # (K,) input offsets in a block
    p = torch.arange(new, dtype=torch.float64)  # (new,) output phases
    dt = p[:, None] / new - (j[None, :] - pad) / orig  # (new, K) output time minus input time
    u = (dt / half_width).clamp(-1.0, 1.0)
    window = torch.special.i0(beta * torch.sqrt(1.0 - u * u)) / torch.special.i0(torch.tensor(beta, dtype=torch.float64))
    window = torch.where(dt.abs() <= half_width, window, torch.zeros_like(window))
    kernel = (2.0 * fc / orig) * torch.sinc(2.0 * fc * dt) * window  # torch.sinc is the normalised sin(pi x)/(pi x)
    return kernel.unsqueeze(1), pad  # (new, 1, K)


def resample(
    wave_t: torch.Tensor, orig_sr: int, new_sr: int, *, zeros: int = 24, rolloff: float = 0.92, beta: float = 8.0
) -> torch.Tensor:
    """Resample (N,) or (C, N) audio from ``orig_sr`` to ``new_sr`` Hz.

    The ratio is reduced by the gcd (22050 -> 16000 is 441 -> 320), so the filter
    bank has ``new/g`` phases. Anti-aliasing cutoff: ``rolloff * min(orig_sr, new_sr) / 2``.

    Returns:
        (ceil(N * new_sr / orig_sr),) or (C, ...) in the input's float dtype.
    """
    if orig_sr <= 0 or new_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {new_sr}")
    if orig_sr == new_sr:
        return wave_t
    squeeze = wave_t.dim() == 1
    x = wave_t.unsqueeze(0) if squeeze else wave_t  # (C, N)
    dtype = x.dtype if x.is_floating_point() else torch.float32
    g = math.gcd(int(orig_sr), int(new_sr))
    orig, new = orig_sr // g, new_sr // g
    kernel, pad = _sinc_kernel(orig, new, zeros=zeros, rolloff=rolloff, beta=beta)
    n_in = x.shape[-1]
    n_out = math.ceil(n_in * new / orig)
    # Zero padding: W on the left for the first outputs' history, W + orig on the right
    # so the last (partial) block is complete.
    xp = F.pad(x.to(dtype).unsqueeze(1), (pad, pad + orig))  # (C, 1, N + 2W + orig)
    y = F.conv1d(xp, kernel.to(dtype), stride=orig)  # (C, new, blocks)
    y = y.transpose(1, 2).reshape(x.shape[0], -1)[:, :n_out]  # (C, N')
    return y.squeeze(0) if squeeze else y


class StreamResampler:
    """:func:`resample` for a signal that arrives in blocks, with flat memory.

    Output column q of the polyphase convolution reads input samples
    ``[q*orig - W, q*orig + orig + W)`` (``orig`` of the gcd-reduced ratio, W the kernel's
    half-width). The buffer keeps exactly the samples still needed: it starts with the W
    zeros :func:`resample` pads on the left, each ``push`` emits every column whose input
    window is complete, and ``flush`` appends the right padding and trims to
    ``ceil(N * new_sr / orig_sr)`` samples. The result equals :func:`resample` on the
    whole signal up to float rounding (tested).
    """

    def __init__(self, orig_sr: int, new_sr: int, *, zeros: int = 24, rolloff: float = 0.92, beta: float = 8.0) -> None:
        if orig_sr <= 0 or new_sr <= 0:
            raise ValueError(f"sample rates must be positive, got {orig_sr} -> {new_sr}")
        self.identity = orig_sr == new_sr
        g = math.gcd(int(orig_sr), int(new_sr))
        self.orig, self.new = orig_sr // g, new_sr // g
        if not self.identity:
            self.kernel, self.pad = _sinc_kernel(self.orig, self.new, zeros=zeros, rolloff=rolloff, beta=beta)
            self.buf = torch.zeros(self.pad)
        self.num_in = 0
        self.num_out = 0

    def _emit(self) -> torch.Tensor:
        k = self.kernel.shape[-1]  # 2W + orig
        cols = (self.buf.numel() - k) // self.orig + 1 if self.buf.numel() >= k else 0
        if cols <= 0:
            return torch.zeros(0)
        used = self.buf[: k + (cols - 1) * self.orig]
        y = F.conv1d(used.view(1, 1, -1), self.kernel.to(used.dtype), stride=self.orig)  # (1, new, cols)
        self.buf = self.buf[cols * self.orig :]
        return y[0].transpose(0, 1).reshape(-1)  # (cols * new,)

    def push(self, block: torch.Tensor) -> torch.Tensor:
        """Resampled samples that are final so far (a (n,) float32 block in, any length out)."""
        block = block.to(torch.float32).reshape(-1)
        self.num_in += block.numel()
        if self.identity:
            self.num_out += block.numel()
            return block
        self.buf = torch.cat([self.buf, block])
        out = self._emit()
        self.num_out += out.numel()
        return out

    def flush(self) -> torch.Tensor:
        """The remaining samples (after the last ``push``)."""
        if self.identity:
            return torch.zeros(0)
        self.buf = torch.cat([self.buf, torch.zeros(self.pad + self.orig)])
        out = self._emit()
        total = math.ceil(self.num_in * self.new / self.orig)
        out = out[: max(0, total - self.num_out)]
        self.num_out += out.numel()
        return out
