"""WAV (or, through ffmpeg, FLAC/MP3/OGG) bytes -> model input features for ``POST /transcribe/audio``.

The same front end as training and ``scripts/infer.py --audio``: read the WAV
(resampled to ``features.sample_rate``), Kaldi fbank without dither, then the
checkpoint's global CMVN when ``features.apply_cmvn`` is set.
"""

from __future__ import annotations

from pathlib import Path

import torch

from src.data.audio import AudioError, read_wav_bytes, resample
from src.data.audio_backends import decode_bytes, ffmpeg_available
from src.data.cmvn import GlobalCMVN
from src.data.features import Fbank
from src.serve.validation import InputError
from src.utils.checkpoint import load_checkpoint
from src.utils.config import FeaturesConfig


class AudioFrontEnd:
    """Holds the fbank extractor (window, mel matrix) and CMVN once per server."""

    def __init__(
        self, features_cfg: FeaturesConfig, cmvn: GlobalCMVN | None, *, max_audio_seconds: float, max_frames: int, min_frames: int = 1
    ) -> None:
        self.cfg = features_cfg
        self.fbank = Fbank(features_cfg)
        self.cmvn = cmvn if features_cfg.apply_cmvn else None
        self.max_audio_seconds = max_audio_seconds
        self.max_frames = max_frames
        self.min_frames = min_frames

    def __call__(self, data: bytes, name: str) -> torch.Tensor:
        """WAV bytes -> (T, num_mel_bins) float32, or :class:`InputError` (415 not WAV, 413 too long, 422 too short)."""
        return self.features(self.decode(data, name), name)

    def decode(self, data: bytes, name: str) -> torch.Tensor:
        """WAV bytes -> (N,) float32 at ``sample_rate``, or :class:`InputError` (415 not WAV, 422 empty)."""
        if not data:
            raise InputError(422, "the audio body is empty; expected a WAV file (RIFF/WAVE, integer PCM)")
        if data[:4] != b"RIFF" and ffmpeg_available():
            # Not a WAV: FLAC, MP3, OGG ... through ffmpeg (src/data/audio_backends.py); resampling stays ours.
            try:
                wave, sr = decode_bytes(data, name)
            except AudioError as e:
                raise InputError(415, f"{name}: not a WAV file (no RIFF/WAVE header) and not audio ffmpeg can decode "
                                      f"({e}); expected WAV, FLAC, MP3 or OGG") from None
            return resample(wave, sr, self.cfg.sample_rate) if sr != self.cfg.sample_rate else wave
        try:
            return read_wav_bytes(data, name, target_sr=self.cfg.sample_rate)  # (N,)
        except AudioError as e:
            hint = "" if ffmpeg_available() else " (FLAC/MP3/OGG uploads need ffmpeg on the server's PATH)"
            raise InputError(415, f"{e}; expected a WAV file (RIFF/WAVE, 8/16/24/32-bit integer PCM){hint}") from None

    def features(self, wave: torch.Tensor, name: str) -> torch.Tensor:
        """(N,) samples -> (T, F) fbank + CMVN, refusing audio over ``max_audio_seconds`` (413) or too short (422)."""
        seconds = wave.numel() / self.cfg.sample_rate
        if seconds > self.max_audio_seconds:
            raise InputError(
                413, f"{name}: {seconds:.1f} s of audio is longer than the limit of max_audio_seconds={self.max_audio_seconds}"
            )
        feats = self.fbank(wave, training=False)  # (T, F)
        if feats.shape[0] < self.min_frames:
            shift = self.cfg.frame_shift_ms
            raise InputError(
                422,
                f"{name}: {1000 * seconds:.0f} ms of audio gives {feats.shape[0]} frames but the model needs at least "
                f"{self.min_frames} ({self.cfg.frame_length_ms:g} ms + {self.min_frames - 1} x {shift:g} ms of audio)",
            )
        if feats.shape[0] > self.max_frames:
            raise InputError(413, f"{name}: {feats.shape[0]} frames is more than the limit of max_frames={self.max_frames}")
        if self.cmvn is not None:
            feats = self.cmvn.apply(feats)  # (T, F)
        return feats.float()


def load_cmvn(ckpt_path: str | Path) -> GlobalCMVN | None:
    """The checkpoint's CMVN statistics (``state["cmvn"]``, written by ``GlobalCMVN.to_dict``), or None."""
    data = load_checkpoint(ckpt_path).get("cmvn")
    return GlobalCMVN.from_dict(data) if data else None
