"""Feature cache: hits on reuse, misses when the audio or the feature config changes."""

from __future__ import annotations

import dataclasses
import math
import os

import torch

from src.data.audio import read_wav, write_wav
from src.data.feature_cache import FeatureCache
from src.data.features import compute_fbank
from src.utils.config import FeaturesConfig


def tone(freq: float, seconds: float = 0.3) -> torch.Tensor:
    t = torch.arange(int(16000 * seconds), dtype=torch.float64) / 16000
    return (0.4 * torch.sin(2 * math.pi * freq * t)).float()


def test_hit_equals_direct_computation(tmp_path):
    wav = tmp_path / "a.wav"
    write_wav(wav, tone(440.0), 16000)
    cache = FeatureCache(tmp_path / "cache", FeaturesConfig())
    first = cache.get(wav)
    second = cache.get(wav)
    assert (cache.misses, cache.hits) == (1, 1)
    assert torch.equal(first, second)
    assert torch.allclose(first, compute_fbank(read_wav(wav), FeaturesConfig()), atol=1e-5)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    # a fresh cache object (a later run) also hits: nothing is recomputed
    later = FeatureCache(tmp_path / "cache", FeaturesConfig())
    later.get(wav)
    assert (later.misses, later.hits) == (0, 1)


def test_changed_audio_invalidates(tmp_path):
    wav = tmp_path / "a.wav"
    write_wav(wav, tone(440.0), 16000)
    cache = FeatureCache(tmp_path / "cache", FeaturesConfig())
    before = cache.get(wav)
    write_wav(wav, tone(2000.0), 16000)  # same size, new content
    st = wav.stat()
    os.utime(wav, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # coarse-mtime filesystems
    after = cache.get(wav)
    assert cache.misses == 2 and cache.hits == 0
    assert not torch.allclose(before, after)
    assert int(after.mean(0).argmax()) != int(before.mean(0).argmax())


def test_changed_feature_config_invalidates_but_dither_does_not(tmp_path):
    wav = tmp_path / "a.wav"
    write_wav(wav, tone(440.0), 16000)
    FeatureCache(tmp_path / "cache", FeaturesConfig()).get(wav)
    c40 = FeatureCache(tmp_path / "cache", FeaturesConfig(num_mel_bins=40))
    assert c40.get(wav).shape == (28, 40)  # 1 + (4800 - 400) // 160
    assert c40.misses == 1
    no_dither = FeatureCache(tmp_path / "cache", dataclasses.replace(FeaturesConfig(), dither=0.0))
    no_dither.get(wav)
    assert no_dither.hits == 1


def test_damaged_entry_is_recomputed(tmp_path):
    wav = tmp_path / "a.wav"
    write_wav(wav, tone(440.0), 16000)
    cache = FeatureCache(tmp_path / "cache", FeaturesConfig())
    good = cache.get(wav)
    cache.path_for(wav).write_bytes(b"not numpy")
    again = cache.get(wav)
    assert cache.misses == 2 and torch.equal(good, again)
