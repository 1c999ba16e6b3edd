"""Log-mel fbank: frame counts, a tone's mel bin, parity with a direct-DFT reference."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from src.data.features import Fbank, compute_fbank, feature_config_dict, feature_hash, mel_scale, num_frames, wav_to_features
from src.utils.config import FeaturesConfig


def tone(freq: float, sr: int = 16000, seconds: float = 0.5, amp: float = 0.3) -> torch.Tensor:
    t = torch.arange(int(sr * seconds), dtype=torch.float64) / sr
    return amp * torch.sin(2 * math.pi * freq * t)


# --------------------------------------------------------------------------- #
# A reference written independently: loops and an explicit DFT sum, float64.   #
# --------------------------------------------------------------------------- #
def reference_fbank(x: np.ndarray, *, window: str = "povey", num_bins: int = 80, low: float = 20.0, high: float = 8000.0) -> np.ndarray:
    sr, flen, shift, nfft, coeff = 16000, 400, 160, 512, 0.97
    x = x.astype(np.float64) * 32768.0
    n_frames = 1 + (len(x) - flen) // shift
    n = np.arange(flen)
    if window == "povey":
        win = (0.5 - 0.5 * np.cos(2 * np.pi * n / (flen - 1))) ** 0.85
    else:
        win = 0.54 - 0.46 * np.cos(2 * np.pi * n / (flen - 1))

    def mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)

    edges = np.linspace(mel(low), mel(high), num_bins + 2)  # num_bins + 2 equally spaced mel points
    fft_mel = mel(np.arange(nfft // 2 + 1) * sr / nfft)
    banks = np.zeros((num_bins, nfft // 2 + 1))
    for m in range(num_bins):
        lo, c, hi = edges[m], edges[m + 1], edges[m + 2]
        for k, fm in enumerate(fft_mel):
            if lo < fm <= c:
                banks[m, k] = (fm - lo) / (c - lo)
            elif c < fm < hi:
                banks[m, k] = (hi - fm) / (hi - c)

    # the DFT as an explicit sum over the zero-padded frame's samples, no FFT
    k = np.arange(nfft // 2 + 1)[:, None]
    t = np.arange(nfft)[None, :]
    cos_m, sin_m = np.cos(2 * np.pi * k * t / nfft), np.sin(2 * np.pi * k * t / nfft)

    out = np.zeros((n_frames, num_bins))
    for i in range(n_frames):
        fr = x[i * shift : i * shift + flen].copy()
        fr -= fr.mean()
        emph = fr.copy()
        for j in range(flen - 1, 0, -1):
            emph[j] = fr[j] - coeff * fr[j - 1]
        emph[0] = fr[0] - coeff * fr[0]
        padded = np.zeros(nfft)
        padded[:flen] = emph * win
        re = (cos_m * padded).sum(axis=1)
        im = -(sin_m * padded).sum(axis=1)
        power = re**2 + im**2
        out[i] = np.log(np.maximum(banks @ power, 1e-10))
    return out


@pytest.mark.parametrize("window", ["povey", "hamming"])
def test_matches_direct_dft_reference(window):
    g = torch.Generator().manual_seed(0)
    x = 0.1 * torch.randn(2000, generator=g, dtype=torch.float64) + tone(440.0, seconds=2000 / 16000)
    ref = reference_fbank(x.numpy(), window=window)
    cfg = FeaturesConfig(window=window)
    ours64 = compute_fbank(x, cfg)
    assert ours64.dtype == torch.float64 and ours64.shape == ref.shape == (11, 80)
    np.testing.assert_allclose(ours64.numpy(), ref, atol=1e-8)
    ours32 = compute_fbank(x.float(), cfg)
    assert ours32.dtype == torch.float32
    np.testing.assert_allclose(ours32.numpy(), ref, atol=1e-4)


@pytest.mark.parametrize("n, expected", [(0, 0), (399, 0), (400, 1), (559, 1), (560, 2), (16000, 98), (16160, 99)])
def test_frame_counts_follow_snip_edges_formula(n, expected):
    # 25 ms / 10 ms at 16 kHz = 400 / 160 samples: T = 1 + (N - 400) // 160 for N >= 400
    cfg = FeaturesConfig()
    assert num_frames(n, cfg) == expected
    assert compute_fbank(torch.zeros(n) + 0.01, cfg).shape == (expected, 80)


@pytest.mark.parametrize("m", [8, 25, 50, 72])
def test_tone_peaks_in_its_mel_bin(m):
    # HTK mel edges between 20 Hz and 8 kHz: bin m's centre is edge m + 1
    lo, hi = 1127 * math.log(1 + 20 / 700), 1127 * math.log(1 + 8000 / 700)
    centre_mel = lo + (m + 1) * (hi - lo) / 81
    freq = 700 * (math.exp(centre_mel / 1127) - 1)
    feats = compute_fbank(tone(freq).float(), FeaturesConfig())
    energy = feats.mean(dim=0)  # (80,)
    assert int(energy.argmax()) == m, f"{freq:.0f} Hz peaked in bin {int(energy.argmax())}"
    # and clearly: 5 bins away is at least 20 dB (ln(100) in natural log) lower
    far = [b for b in (m - 5, m + 5) if 0 <= b < 80]
    assert all(float(energy[m] - energy[b]) > math.log(100) for b in far)


def test_mel_scale_is_htk():
    assert float(mel_scale(700.0)) == pytest.approx(1127 * math.log(2))
    assert float(mel_scale(0.0)) == 0.0


def test_dither_only_in_training_and_seeded():
    x = tone(300.0).float()
    cfg = FeaturesConfig(dither=1.0)
    fb = Fbank(cfg)
    eval_a, eval_b = fb(x), fb(x)
    assert torch.equal(eval_a, eval_b)
    tr1 = fb(x, training=True, generator=torch.Generator().manual_seed(1))
    tr2 = fb(x, training=True, generator=torch.Generator().manual_seed(1))
    tr3 = fb(x, training=True, generator=torch.Generator().manual_seed(2))
    assert torch.equal(tr1, tr2) and not torch.equal(tr1, tr3) and not torch.equal(tr1, eval_a)
    # silence: dither keeps every bin off the floor
    silent = fb(torch.zeros(4000), training=True, generator=torch.Generator().manual_seed(0))
    assert float(silent.min()) > math.log(1e-10) + 1.0
    no_dither = Fbank(dataclasses.replace(cfg, dither=0.0))
    assert torch.equal(no_dither(x, training=True), no_dither(x))


def test_config_hash_ignores_dither_but_not_mel_bins():
    base = FeaturesConfig()
    assert feature_hash(base) == feature_hash(dataclasses.replace(base, dither=0.0))
    assert feature_hash(base) != feature_hash(dataclasses.replace(base, num_mel_bins=40))
    assert feature_config_dict(base)["num_mel_bins"] == 80


def test_bad_config_errors_name_the_key():
    with pytest.raises(ValueError, match="features.window"):
        Fbank(FeaturesConfig(window="hann"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="features.low_freq"):
        Fbank(FeaturesConfig(low_freq=9000.0))


def test_wav_to_features_applies_cmvn():
    class Shift:
        def apply(self, f: torch.Tensor) -> torch.Tensor:
            return f - 1.0

    x = tone(500.0).float()
    plain = wav_to_features(x, FeaturesConfig())
    assert plain.dtype == torch.float32 and plain.shape == (48, 80)
    assert torch.allclose(wav_to_features(x, FeaturesConfig(), Shift()), plain - 1.0)
