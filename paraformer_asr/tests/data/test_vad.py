"""Energy VAD on synthetic signals whose speech/silence spans are known exactly."""

import dataclasses

import numpy as np
import pytest

from src.data.vad import FrameEnergy, detect_segments, frame_energies, speech_segments
from src.utils.config import VADConfig

SR = 16000
NO_PAD = VADConfig(pad_ms=0.0)


def signal(spans, total, seed=0, level=0.3):
    """Noise at -66 dBFS everywhere, 'speech' (a vowel-like harmonic tone + noise) inside ``spans`` (seconds)."""
    rng = np.random.default_rng(seed)
    x = 0.0005 * rng.standard_normal(int(total * SR))
    for a, b in spans:
        t = np.arange(int(a * SR), int(b * SR)) / SR
        x[int(a * SR) : int(b * SR)] += level * (np.sin(2 * np.pi * 150 * t) + 0.5 * np.sin(2 * np.pi * 450 * t))
    return x.astype(np.float32)


def seconds(segs):
    return [(a / SR, b / SR) for a, b in segs]


def test_known_spans_within_20_ms():
    spans = [(0.50, 1.83), (2.61, 3.10), (4.05, 6.32)]
    found = seconds(speech_segments(signal(spans, 7.0), SR, NO_PAD))
    assert len(found) == len(spans)
    for (a, b), (fa, fb) in zip(spans, found):
        assert abs(a - fa) <= 0.02 and abs(b - fb) <= 0.02, (spans, found)


def test_short_pause_is_filled_and_click_dropped():
    # A 0.15 s pause (< min_silence 0.3 s) inside speech, and a 0.05 s click (< min_speech 0.2 s).
    x = signal([(0.5, 1.5), (1.65, 2.5), (3.5, 3.55)], 4.0)
    found = seconds(speech_segments(x, SR, NO_PAD))
    assert len(found) == 1
    assert abs(found[0][0] - 0.5) <= 0.02 and abs(found[0][1] - 2.5) <= 0.02


def test_long_speech_is_cut_at_its_quietest_point():
    # 30 s of speech with a quieter 0.1 s stretch (a dip, not silence) at 14 s; the cap is 20 s.
    x = signal([(0.0, 30.0)], 30.0)
    x[int(14.0 * SR) : int(14.1 * SR)] *= 0.01
    found = seconds(speech_segments(x, SR, NO_PAD))
    assert len(found) == 2 and all(b - a <= 20.0 for a, b in found)
    assert 14.0 <= found[0][1] <= 14.1 and found[0][1] == found[1][0]


def test_padding_stays_inside_the_file_and_between_neighbours():
    cfg = dataclasses.replace(NO_PAD, pad_ms=200.0)
    x = signal([(0.1, 1.0), (1.5, 2.0)], 2.1)
    (a1, b1), (a2, b2) = seconds(speech_segments(x, SR, cfg))
    assert a1 == 0.0 and b2 == pytest.approx(2.1, abs=0.011)  # clipped at the ends
    assert b1 <= a2 and b1 == pytest.approx(1.2, abs=0.02) and a2 == pytest.approx(1.3, abs=0.02)


def test_silence_and_all_speech():
    assert speech_segments(np.zeros(5 * SR, dtype=np.float32), SR, NO_PAD) == []
    found = seconds(speech_segments(signal([(0.0, 5.0)], 5.0), SR, NO_PAD))
    assert len(found) == 1 and found[0][0] <= 0.02 and found[0][1] >= 4.98


def test_streaming_energies_equal_the_whole_signal():
    x = signal([(0.2, 0.9)], 1.234)
    fe = FrameEnergy(160)
    for start in range(0, len(x), 777):
        fe.update(x[start : start + 777])
    assert np.allclose(fe.finish(), frame_energies(x, 160))
    assert fe.num_samples == len(x)


def test_impossible_settings_are_errors():
    with pytest.raises(ValueError, match="vad.max_segment_seconds"):
        detect_segments(np.zeros(100), VADConfig(max_segment_seconds=0.1, pad_ms=100.0))
