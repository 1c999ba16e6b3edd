"""Log-mel fbank: frame counts, a tone's mel bin, parity with a reference written from Kaldi's algorithm."""

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
# A reference written from Kaldi's documented algorithm (feature-window.cc,     #
# feature-fbank.cc, mel-computations.cc), not from our code: float64 loops and  #
# an explicit DFT sum. Kaldi's constants are written here, not read from        #
# FeaturesConfig, so a changed default cannot make the reference agree.        #
# --------------------------------------------------------------------------- #
KALDI_FLT_EPSILON = float(np.finfo(np.float32).eps)  # std::numeric_limits<float>::epsilon()


def kaldi_reference_fbank(x: np.ndarray, *, window: str = "povey", num_bins: int = 80, low: float = 20.0,
                          high: float = 0.0) -> np.ndarray:
    """compute-fbank-feats --dither=0 --snip-edges=true (the other options at Kaldi's defaults).

    Kaldi reads int16 samples as floats without scaling; per frame (ProcessWindow):
    remove the DC offset, pre-emphasise x[i] -= 0.97 x[i-1] from the end with x[0] -= 0.97 x[0],
    multiply by the window, zero-pad to a power of two, take |FFT|^2, apply the mel banks
    over the first padded/2 FFT bins (MelBanks: HTK mel, triangles in mel between
    low + m d, low + (m+1) d, low + (m+2) d, d = (mel_high - mel_low) / (num_bins + 1)),
    then ApplyFloor(FLT_EPSILON) and log.
    """
    sr, flen, shift, coeff = 16000, 400, 160, 0.97  # 25 ms / 10 ms frames, preemphasis-coefficient
    padded = 1
    while padded < flen:
        padded *= 2  # round_to_power_of_two
    x = x.astype(np.float64) * 32768.0
    n_frames = 1 + (len(x) - flen) // shift  # snip_edges: whole frames only
    n = np.arange(flen)
    a = 2 * np.pi / (flen - 1)
    win = (0.5 - 0.5 * np.cos(a * n)) ** 0.85 if window == "povey" else 0.54 - 0.46 * np.cos(a * n)

    def mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)

    nyquist = 0.5 * sr
    high = high if high > 0 else nyquist + high
    mel_low, mel_high = mel(low), mel(high)
    delta = (mel_high - mel_low) / (num_bins + 1)
    num_fft_bins = padded // 2  # Kaldi's banks never weight the Nyquist bin
    banks = np.zeros((num_bins, padded // 2 + 1))
    for m in range(num_bins):
        left, centre, right = mel_low + m * delta, mel_low + (m + 1) * delta, mel_low + (m + 2) * delta
        for i in range(num_fft_bins):
            fm = mel(sr / padded * i)
            if left < fm < right:
                banks[m, i] = (fm - left) / (centre - left) if fm <= centre else (right - fm) / (right - centre)

    k = np.arange(padded // 2 + 1)[:, None]
    t = np.arange(padded)[None, :]
    cos_m, sin_m = np.cos(2 * np.pi * k * t / padded), np.sin(2 * np.pi * k * t / padded)
    out = np.zeros((n_frames, num_bins))
    for f in range(n_frames):
        fr = x[f * shift : f * shift + flen].copy()
        fr -= fr.mean()  # remove_dc_offset
        for i in range(flen - 1, 0, -1):
            fr[i] -= coeff * fr[i - 1]
        fr[0] -= coeff * fr[0]
        buf = np.zeros(padded)
        buf[:flen] = fr * win
        power = (cos_m * buf).sum(axis=1) ** 2 + (sin_m * buf).sum(axis=1) ** 2
        out[f] = np.log(np.maximum(banks @ power, KALDI_FLT_EPSILON))
    return out


def tone_then_digital_silence() -> torch.Tensor:
    """A tone in noise, then 0.1 s of exact zeros: the silent frames exercise the floor."""
    g = torch.Generator().manual_seed(0)
    speech = 0.1 * torch.randn(2000, generator=g, dtype=torch.float64) + tone(440.0, seconds=2000 / 16000)
    return torch.cat([speech, torch.zeros(1600, dtype=torch.float64)])


@pytest.mark.parametrize("window", ["povey", "hamming"])
def test_matches_kaldi_reference(window):
    x = tone_then_digital_silence()
    ref = kaldi_reference_fbank(x.numpy(), window=window)
    cfg = FeaturesConfig(window=window, dither=0.0)
    ours64 = compute_fbank(x, cfg)
    assert ours64.dtype == torch.float64 and ours64.shape == ref.shape == (21, 80)
    assert (ref[-2:] == math.log(KALDI_FLT_EPSILON)).all()  # the reference floors digital silence
    np.testing.assert_allclose(ours64.numpy(), ref, atol=1e-8)
    ours32 = compute_fbank(x.float(), cfg)
    assert ours32.dtype == torch.float32
    np.testing.assert_allclose(ours32.numpy(), ref, atol=1e-4)


def test_kaldi_reference_rejects_the_old_1e10_floor():
    # The reference must be able to fail: the floor this repository used before (1e-10)
    # leaves silent frames at ln(1e-10) = -23.0 instead of Kaldi's ln(FLT_EPSILON) = -15.9.
    x = tone_then_digital_silence()
    ref = kaldi_reference_fbank(x.numpy())
    old = compute_fbank(x, FeaturesConfig(energy_floor=1e-10))
    assert np.abs(old.numpy() - ref).max() > 5.0


def test_digital_silence_gives_log_flt_epsilon():
    feats = compute_fbank(torch.zeros(4000), FeaturesConfig())
    assert feats.shape == (23, 80)
    assert torch.equal(feats, torch.full_like(feats, math.log(np.float32(KALDI_FLT_EPSILON))))


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
    assert float(silent.min()) > math.log(KALDI_FLT_EPSILON) + 1.0
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
