"""Kaldi-style log-mel filterbank, written out step by step.

For a waveform x (N,) at ``features.sample_rate`` the pipeline is (docs/AUDIO.md
derives each step):

    scale to the int16 range -> frames (T, frame_len) -> [dither] -> DC removal
    -> pre-emphasis -> window -> zero-pad to 2^k -> |rfft|^2 -> mel filters
    -> log(max(., FLT_EPSILON))                             => (T, num_mel_bins)

It follows Kaldi's ``compute-fbank-feats`` with ``snip_edges=true`` and
``use_energy=false``, so the numbers agree with Kaldi's (and torchaudio's
``kaldi.fbank``) for the same options.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import Any

import torch

from src.utils.config import FeaturesConfig

# Bump when the fbank computation changes, so cached features are recomputed.
# 2: the default mel floor became FLT_EPSILON (was 1e-10).
FBANK_VERSION = 2

# float32 machine epsilon, the floor Kaldi's ComputeFbank applies to the mel energies
# (std::numeric_limits<float>::epsilon()) and torchaudio's kaldi.fbank copies.
FLT_EPSILON = 1.1920928955078125e-07

# Config fields that do not change the cached (dither-free, un-normalised) features:
# ``dither`` is training-time noise; the CMVN options act after the cache.
_CACHE_IRRELEVANT = ("dither", "apply_cmvn", "cmvn_frame_range_db")


def feature_config_dict(cfg: FeaturesConfig) -> dict[str, Any]:
    """All ``features.*`` values as a plain dict (store it in the checkpoint)."""
    return dataclasses.asdict(cfg)


def feature_hash(cfg: FeaturesConfig) -> str:
    """Short hash of the options that determine the un-dithered fbank (cache key part)."""
    d = {k: v for k, v in feature_config_dict(cfg).items() if k not in _CACHE_IRRELEVANT}
    d["fbank_version"] = FBANK_VERSION
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def frame_params(cfg: FeaturesConfig) -> tuple[int, int, int]:
    """(frame_len, frame_shift, fft_size) in samples: 400, 160, 512 at 16 kHz."""
    frame_len = int(cfg.sample_rate * cfg.frame_length_ms / 1000.0)
    shift = int(cfg.sample_rate * cfg.frame_shift_ms / 1000.0)
    if frame_len < 2 or shift < 1:
        raise ValueError(
            f"features.frame_length_ms={cfg.frame_length_ms} / frame_shift_ms={cfg.frame_shift_ms} give "
            f"{frame_len}/{shift} samples at {cfg.sample_rate} Hz; use e.g. 25 and 10"
        )
    fft_size = 1 << (frame_len - 1).bit_length()  # next power of two >= frame_len
    return frame_len, shift, fft_size


def num_frames(num_samples: int, cfg: FeaturesConfig) -> int:
    """Kaldi's snip_edges count: only whole frames, 1 + (N - frame_len) // shift, or 0."""
    frame_len, shift, _ = frame_params(cfg)
    return 0 if num_samples < frame_len else 1 + (num_samples - frame_len) // shift


def mel_scale(freq: torch.Tensor | float) -> torch.Tensor:
    """HTK mel scale, m = 1127 ln(1 + f / 700): about linear below 1 kHz, logarithmic above."""
    return 1127.0 * torch.log1p(torch.as_tensor(freq, dtype=torch.float64) / 700.0)


def window_function(kind: str, length: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(frame_len,) analysis window, symmetric as in Kaldi (period ``length - 1``)."""
    n = torch.arange(length, dtype=torch.float64)
    a = 2.0 * math.pi / (length - 1)
    if kind == "povey":
        # Povey's window: a Hann window raised to 0.85. It is zero at both ends like
        # Hann, but its main lobe is flatter, so less of the frame is attenuated.
        w = (0.5 - 0.5 * torch.cos(a * n)).pow(0.85)
    elif kind == "hamming":
        w = 0.54 - 0.46 * torch.cos(a * n)
    else:
        raise ValueError(f"features.window={kind!r} is not one of 'povey', 'hamming'")
    return w.to(dtype)


def mel_filterbank(cfg: FeaturesConfig, fft_size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(num_mel_bins, fft_size // 2 + 1) triangular filters, Kaldi's MelBanks.

    The band [low_freq, high_freq] is cut into ``num_mel_bins + 1`` equal steps on the
    mel scale; filter m rises linearly *in mel* from edge m to edge m+1 (its centre)
    and falls to edge m+2. Equal mel spacing gives narrow filters at low frequencies,
    where the ear resolves pitch finely, and wide ones at high frequencies. Kaldi
    does not normalise the filters' areas, and neither do we.
    """
    nyquist = cfg.sample_rate / 2.0
    low = cfg.low_freq
    high = cfg.high_freq if cfg.high_freq > 0 else nyquist + cfg.high_freq  # <= 0 counts back from Nyquist
    if not 0.0 <= low < high <= nyquist:
        raise ValueError(
            f"features.low_freq={cfg.low_freq}, high_freq={cfg.high_freq} give the band [{low}, {high}] Hz, "
            f"which must satisfy 0 <= low < high <= {nyquist} (Nyquist)"
        )
    mel_low, mel_high = mel_scale(low), mel_scale(high)
    step = (mel_high - mel_low) / (cfg.num_mel_bins + 1)
    m = torch.arange(cfg.num_mel_bins, dtype=torch.float64)
    left = mel_low + m * step  # (M,)
    centre = left + step
    right = centre + step
    bin_mel = mel_scale(torch.arange(fft_size // 2 + 1, dtype=torch.float64) * cfg.sample_rate / fft_size)  # (K,)
    up = (bin_mel[None, :] - left[:, None]) / (centre - left)[:, None]  # (M, K)
    down = (right[:, None] - bin_mel[None, :]) / (right - centre)[:, None]  # (M, K)
    return torch.minimum(up, down).clamp(min=0.0).to(dtype)  # (M, K) triangles, zero outside [left, right]


class Fbank:
    """Log-mel filterbank extractor; holds the window and the mel matrix for ``cfg``."""

    def __init__(self, cfg: FeaturesConfig) -> None:
        self.cfg = cfg
        self.frame_len, self.shift, self.fft_size = frame_params(cfg)
        if not 0.0 <= cfg.preemphasis < 1.0:
            raise ValueError(f"features.preemphasis={cfg.preemphasis} must be in [0, 1); Kaldi uses 0.97")
        self._window = window_function(cfg.window, self.frame_len, torch.float64)  # (frame_len,)
        self._mel = mel_filterbank(cfg, self.fft_size, torch.float64)  # (M, K)

    def __call__(
        self, wave: torch.Tensor, *, training: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Log-mel features of one utterance.

        Args:
            wave: (N,) samples in [-1, 1] at ``cfg.sample_rate``; float32 or float64.
            training: add ``cfg.dither`` Gaussian noise (never at eval/inference).
            generator: RNG for the dither, for reproducible training.
        Returns:
            (T, num_mel_bins) in the input's dtype, T = 1 + (N - frame_len) // shift (0 if N < frame_len).
        """
        if wave.dim() != 1:
            raise ValueError(f"fbank expects a mono waveform (N,), got shape {tuple(wave.shape)}; mix channels first")
        dtype = wave.dtype if wave.dtype in (torch.float32, torch.float64) else torch.float32
        cfg = self.cfg
        # Kaldi reads int16 samples unscaled; working on that scale makes dither=1.0 mean
        # one quantisation step and keeps the log values equal to Kaldi's.
        x = wave.to(dtype) * 32768.0  # (N,)
        T = num_frames(x.numel(), cfg)
        if T == 0:
            return x.new_zeros(0, cfg.num_mel_bins)  # (0, M): shorter than one frame
        frames = x.unfold(0, self.frame_len, self.shift).clone()  # (T, frame_len), frame t starts at t*shift

        if training and cfg.dither > 0:
            # Dither: a little noise so silent (all-zero) stretches do not hit log(0)
            # and the model does not learn quantisation artefacts. Drawn in float32 (a float64
            # draw costs ~6x as much, 12 ms per 3.6 s utterance; noise needs no 53-bit mantissa).
            frames = frames + cfg.dither * torch.randn(frames.shape, generator=generator, dtype=torch.float32).to(dtype)
        if cfg.remove_dc_offset:
            frames = frames - frames.mean(dim=1, keepdim=True)  # (T, frame_len) zero-mean per frame
        if cfg.preemphasis > 0:
            # Pre-emphasis y[n] = x[n] - a x[n-1], a first-order high-pass (+6 dB/octave)
            # that flattens speech's spectral tilt. Kaldi uses x[-1] := x[0] inside each
            # frame, so the first sample becomes (1 - a) x[0].
            prev = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)  # (T, frame_len) x[n-1]
            frames = frames - cfg.preemphasis * prev
        frames = frames * self._window.to(dtype)  # (T, frame_len) taper to cut spectral leakage

        # Zero-padding to 2^k only interpolates the spectrum (finer bins, same content).
        spec = torch.fft.rfft(frames, n=self.fft_size, dim=1)  # (T, K) complex, K = fft_size/2 + 1
        power = spec.real.square() + spec.imag.square()  # (T, K) |X_k|^2
        mel = power @ self._mel.to(dtype).T  # (T, M) energy in each triangular band
        # The log compresses the dynamic range like loudness perception. The floor keeps
        # log(0) out of empty bands; at Kaldi's FLT_EPSILON (log = -15.9) digital silence
        # sits ~16 nats below speech bands instead of the ~23 a 1e-10 floor gave, which
        # had stretched the CMVN variance and squeezed speech into a fraction of a unit.
        return torch.log(mel.clamp(min=cfg.energy_floor))  # (T, M)


def compute_fbank(
    wave: torch.Tensor, cfg: FeaturesConfig, *, training: bool = False, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(N,) waveform -> (T, num_mel_bins) log-mel features; see :class:`Fbank`."""
    return Fbank(cfg)(wave, training=training, generator=generator)


def wav_to_features(wave: torch.Tensor, cfg: FeaturesConfig, cmvn: Any | None = None) -> torch.Tensor:
    """Inference front end: (N,) waveform at ``cfg.sample_rate`` -> (T, F) float32 fbank, CMVN'd if given.

    ``cmvn`` is a :class:`src.data.cmvn.GlobalCMVN` (e.g. ``GlobalCMVN.from_dict(ckpt["cmvn"])``).
    No dither and no SpecAugment: this is the eval/infer path.
    """
    feats = compute_fbank(wave, cfg).to(torch.float32)  # (T, F)
    return cmvn.apply(feats) if cmvn is not None else feats
