"""Energy-based voice activity detection: where in a long recording is there speech?

1. Frame energy. The signal is cut into non-overlapping frames of ``frame_ms`` and
   each gets ``10 log10(mean(x^2) + 1e-10)`` dB. This is computed block by block
   (:class:`FrameEnergy`), so a recording of hours costs one float per 10 ms.
2. Threshold. The noise floor is a low percentile of the frame energies (a recording
   is rarely speech more than 90% of the time); a frame is speech when it is
   ``threshold_db`` above the floor. If the whole file is speech the percentile is
   speech too, so the threshold is also capped at ``threshold_db`` below the loudest
   frame; and it is never below ``min_energy_db``, so digital silence has no speech.
3. Smoothing, as in every energy VAD (e.g. WebRTC's hangover): pauses shorter than
   ``min_silence_ms`` are filled (a stop consonant or a breath does not end a
   sentence), then bursts shorter than ``min_speech_ms`` are dropped (clicks).
4. Length cap. A segment longer than ``max_segment_seconds`` (minus the padding) is
   cut at its quietest frame in the second half of the allowed window, so every piece
   is at least half the cap long and the cut falls in a pause where there is one.
5. Padding. Each segment grows by ``pad_ms`` on both sides (onsets and fades fall
   below the threshold), never into its neighbour or past the file.

Segments are returned as half-open frame ranges ``[start, end)``; multiply by
``frame_ms`` for time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from src.utils.config import VADConfig


class FrameEnergy:
    """Streaming frame energies: ``update`` with consecutive blocks, then ``finish``."""

    def __init__(self, frame_samples: int) -> None:
        if frame_samples < 1:
            raise ValueError(f"vad.frame_ms gives {frame_samples} samples per frame; it must be at least 1")
        self.frame_samples = frame_samples
        self._rest = np.zeros(0, dtype=np.float64)
        self._energies: list[np.ndarray] = []
        self.num_samples = 0

    def update(self, block: torch.Tensor | np.ndarray) -> None:
        x = np.concatenate([self._rest, np.asarray(block, dtype=np.float64)])
        self.num_samples += len(x) - len(self._rest)
        n = len(x) // self.frame_samples
        frames = x[: n * self.frame_samples].reshape(n, self.frame_samples)  # (n, frame)
        self._energies.append(10.0 * np.log10((frames**2).mean(axis=1) + 1e-10))
        self._rest = x[n * self.frame_samples :]

    def finish(self) -> np.ndarray:
        """(num_frames,) dB; a last partial frame counts if it is at least half a frame."""
        parts = list(self._energies)
        if len(self._rest) >= self.frame_samples / 2:
            parts.append(np.array([10.0 * np.log10((self._rest**2).mean() + 1e-10)]))
        return np.concatenate(parts) if parts else np.zeros(0)


def frame_energies(wave: torch.Tensor | np.ndarray, frame_samples: int) -> np.ndarray:
    """(num_frames,) dB of an in-memory signal."""
    fe = FrameEnergy(frame_samples)
    fe.update(wave)
    return fe.finish()


@dataclass(frozen=True)
class Segment:
    start: int  # first frame
    end: int  # one past the last frame


def _runs(flags: np.ndarray) -> list[list[int]]:
    """[start, end) of each run of True."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [[int(a), int(b)] for a, b in zip(edges[::2], edges[1::2])]


def _split(start: int, end: int, energy: np.ndarray, max_len: int) -> list[list[int]]:
    """Cut [start, end) into pieces of at most ``max_len`` frames at the quietest frames."""
    pieces = []
    while end - start > max_len:
        lo, hi = start + max_len // 2, start + max_len  # a piece is at least half the cap
        cut = lo + int(np.argmin(energy[lo:hi]))
        pieces.append([start, cut])
        start = cut
    pieces.append([start, end])
    return pieces


def detect_segments(energy_db: np.ndarray, cfg: VADConfig) -> list[Segment]:
    """Speech segments of a recording from its frame energies (steps 2-5 of the module docstring)."""
    if len(energy_db) == 0:
        return []
    frames = lambda ms: int(round(ms / cfg.frame_ms))  # noqa: E731 - milliseconds -> frames
    pad = frames(cfg.pad_ms)
    max_len = frames(1000.0 * cfg.max_segment_seconds) - 2 * pad
    if max_len < 2:
        raise ValueError(
            f"vad.max_segment_seconds={cfg.max_segment_seconds} leaves no room after 2 x vad.pad_ms={cfg.pad_ms}; raise it"
        )
    floor = float(np.percentile(energy_db, cfg.noise_percentile))
    threshold = max(cfg.min_energy_db, min(floor + cfg.threshold_db, float(energy_db.max()) - cfg.threshold_db))
    runs = _runs(energy_db > threshold)
    merged: list[list[int]] = []
    for run in runs:  # fill short pauses
        if merged and run[0] - merged[-1][1] < frames(cfg.min_silence_ms):
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    kept = [r for r in merged if r[1] - r[0] >= frames(cfg.min_speech_ms)]
    pieces = [p for a, b in kept for p in _split(a, b, energy_db, max_len)]
    out = []
    for i, (a, b) in enumerate(pieces):
        # Pad, but never past the midpoint of the gap to a neighbour (pieces of one cut touch: no pad there).
        left = pieces[i - 1][1] if i > 0 else -pad * 2
        right = pieces[i + 1][0] if i + 1 < len(pieces) else len(energy_db) + pad * 2
        start = max(0, a - min(pad, (a - left) // 2))
        end = min(len(energy_db), b + min(pad, (right - b) // 2))
        out.append(Segment(start, end))
    return out


def speech_segments(wave: torch.Tensor | np.ndarray, sample_rate: int, cfg: VADConfig) -> list[tuple[int, int]]:
    """[start, end) *sample* ranges of the speech in an in-memory signal."""
    frame = int(round(sample_rate * cfg.frame_ms / 1000.0))
    n = len(wave)
    return [(s.start * frame, min(n, s.end * frame)) for s in detect_segments(frame_energies(wave, frame), cfg)]
