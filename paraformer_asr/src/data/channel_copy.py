"""A copy of a test manifest heard through another channel: a condition the model never saw.

Real recordings often arrive through a telephone: 8 kHz audio, or the 300-3400 Hz band of the
narrowband network. This module writes a manifest's audio through such a channel, so that
``eval.py --manifest`` scores the same sentences and voices with only the channel changed.

Channels (:data:`CHANNELS`):

- ``8k``: resampled to 8000 Hz with our windowed-sinc resampler and written as an 8 kHz
  file, as a telephone recording would arrive; the reader resamples it back to the model's
  rate, so nothing above ~3.7 kHz (the filter's roll-off below 4 kHz) is left.
- ``telephone``: band-limited to 300-3400 Hz (:func:`src.data.augment.telephone.band_limit`,
  the training augmentation's filter), kept at the model's rate.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm import tqdm

from src.data.audio import resample, write_wav
from src.data.audio_backends import read_audio
from src.data.augment.telephone import band_limit
from src.data.manifest import read_manifest
from src.data.real_speech import write_manifest

NARROWBAND_SR = 8000


def _eight_khz(wave: torch.Tensor, sample_rate: int) -> tuple[torch.Tensor, int]:
    return resample(wave, sample_rate, NARROWBAND_SR), NARROWBAND_SR


def _telephone_band(wave: torch.Tensor, sample_rate: int) -> tuple[torch.Tensor, int]:
    return band_limit(wave, sample_rate), sample_rate


CHANNELS: dict[str, Callable[[torch.Tensor, int], tuple[torch.Tensor, int]]] = {
    "8k": _eight_khz,
    "telephone": _telephone_band,
}


def _channel(name: str) -> Callable[[torch.Tensor, int], tuple[torch.Tensor, int]]:
    if name not in CHANNELS:
        raise ValueError(f"unknown channel {name!r}; choose one of {', '.join(CHANNELS)}")
    return CHANNELS[name]


def apply_channel(wave: torch.Tensor, sample_rate: int, channel: str) -> tuple[torch.Tensor, int]:
    """(N,) waveform at ``sample_rate`` -> (the waveform through ``channel``, its sample rate)."""
    return _channel(channel)(wave, sample_rate)


def copy_through_channel(manifest: str | Path, out_dir: str | Path, channel: str, *, sample_rate: int = 16000,
                         progress: bool = True) -> Path:
    """Write every utterance of ``manifest`` through ``channel`` into ``out_dir``; returns the new manifest.

    The new manifest, ``<out_dir>/<manifest stem>_<channel>.jsonl``, keeps each line's text and
    fields (for ``--group-by``), adds ``"channel"``, and points at ``<out_dir>/wavs/``.
    """
    apply = _channel(channel)
    entries = read_manifest(manifest)
    out_dir = Path(out_dir)
    out_manifest = out_dir / f"{Path(manifest).stem}_{channel}.jsonl"
    if out_manifest.exists():
        raise FileExistsError(f"{out_manifest} exists; remove it or choose another --out")
    (out_dir / "wavs").mkdir(parents=True, exist_ok=True)
    lines: list[dict[str, Any]] = []
    clipped = []
    for i, entry in enumerate(tqdm(entries, desc=f"{channel} copy of {Path(manifest).name}", disable=not progress)):
        wave, sr = apply(read_audio(entry.audio_path, target_sr=sample_rate), sample_rate)
        name = f"wavs/{i:06d}_{entry.audio_path.stem}.wav"  # the index keeps equal stems from other folders apart
        if wave.abs().max() > 1.0:  # the filters can overshoot a full-scale input; 16-bit PCM clips it
            clipped.append(name)
        write_wav(out_dir / name, wave, sr)
        lines.append({"audio_filepath": name, "duration": round(wave.numel() / sr, 4), "text": entry.text,
                      **entry.extra, "channel": channel})
    write_manifest(out_manifest, lines)
    if clipped:
        warnings.warn(f"{len(clipped)} of {len(lines)} utterances exceed full scale after the {channel} channel and were "
                      f"clipped when written (first: {out_dir / clipped[0]}); lower the input level to avoid it",
                      stacklevel=2)
    return out_manifest


__all__ = ["CHANNELS", "apply_channel", "copy_through_channel"]
