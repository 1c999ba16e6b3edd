"""On-the-fly waveform augmentation for training (issue 13, part 2).

One concept per file: speed.py, reverb.py, telephone.py, silence.py, noise.py, gain.py.
:class:`WaveformAugment` chains them in the order a real recording would see them:

    speed (the talker) -> reverb (the room) -> telephone (the channel)
    -> leading/trailing silence -> additive noise -> peak level (the recorder)

Every random choice comes from one generator seeded by :func:`augment_generator`
from (training.seed, utterance index, epoch): an utterance is augmented the same way
in any run, DataLoader worker or resume, and differently in every epoch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import torch

from src.data.augment.gain import apply_peak_gain
from src.data.augment.noise import NOISE_COLOURS, make_noise, mix_at_snr
from src.data.augment.reverb import reverberate, synthetic_rir
from src.data.augment.silence import pad_silence
from src.data.augment.speed import speed_perturb
from src.data.augment.telephone import band_limit
from src.utils.config import AugmentConfig

__all__ = ["WaveformAugment", "augment_generator"]


def augment_generator(seed: int, utterance: int, epoch: int) -> torch.Generator:
    """A generator that is a pure function of (seed, utterance, epoch), well mixed by a hash."""
    digest = hashlib.blake2b(f"{seed}:{utterance}:{epoch}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))


class WaveformAugment:
    """Random speed, reverb, telephone band, silence, noise and level for one training waveform."""

    def __init__(self, cfg: AugmentConfig, sample_rate: int) -> None:
        for key in ("reverb_prob", "telephone_prob", "silence_prob", "silence_noisy_prob", "noise_prob", "gain_prob"):
            p = getattr(cfg, key)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"augment.{key}={p} must be a probability in [0, 1]")
        if not cfg.speed_factors or any(f <= 0 for f in cfg.speed_factors):
            raise ValueError(f"augment.speed_factors={cfg.speed_factors} must be positive factors, e.g. [0.9, 1.0, 1.1]")
        if not 0 < cfg.rt60_min <= cfg.rt60_max:
            raise ValueError(f"augment.rt60_min={cfg.rt60_min}, rt60_max={cfg.rt60_max}: need 0 < min <= max (seconds)")
        if cfg.snr_db_min > cfg.snr_db_max:
            raise ValueError(f"augment.snr_db_min={cfg.snr_db_min} > snr_db_max={cfg.snr_db_max}")
        if not cfg.gain_db_min <= cfg.gain_db_max <= 0:
            raise ValueError(f"augment.gain_db_min={cfg.gain_db_min}, gain_db_max={cfg.gain_db_max}: need min <= max <= 0 dBFS")
        bad = [t for t in cfg.noise_types if t not in (*NOISE_COLOURS, "babble")]
        if bad or (cfg.noise_prob > 0 and not cfg.noise_types):
            raise ValueError(f"augment.noise_types={cfg.noise_types}: each must be one of white, pink, brown, babble")
        if cfg.silence_max_seconds < 0:
            raise ValueError(f"augment.silence_max_seconds={cfg.silence_max_seconds} must be >= 0")
        self.cfg = cfg
        self.sample_rate = sample_rate

    def __call__(
        self,
        wave: torch.Tensor,
        generator: torch.Generator,
        *,
        other_utterance: Callable[[torch.Generator], torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """(N,) float32 -> (N', ,) augmented waveform and a dict saying what was applied.

        ``other_utterance(generator)`` returns a random other training waveform (for babble).
        """
        cfg, sr, g = self.cfg, self.sample_rate, generator

        def uniform(lo: float = 0.0, hi: float = 1.0) -> float:
            return lo + (hi - lo) * float(torch.rand((), generator=g, dtype=torch.float64))

        info: dict[str, Any] = {}
        factor = cfg.speed_factors[int(torch.randint(len(cfg.speed_factors), (), generator=g))]
        if factor != 1.0:
            wave = speed_perturb(wave, factor, sr)
            info["speed"] = factor
        if uniform() < cfg.reverb_prob:
            rt60 = uniform(cfg.rt60_min, cfg.rt60_max)
            wave = reverberate(wave, synthetic_rir(rt60, sr, g, direct_to_reverb_db=uniform(-3.0, 10.0)))
            info["rt60"] = rt60
        if uniform() < cfg.telephone_prob:
            wave = band_limit(wave, sr)
            info["telephone"] = True
        speech_power = float(wave.to(torch.float64).square().mean()) if wave.numel() else 0.0
        if uniform() < cfg.silence_prob:
            lead = int(uniform(0.0, cfg.silence_max_seconds) * sr)
            trail = int(uniform(0.0, cfg.silence_max_seconds) * sr)
            # a noise floor 30-60 dB under the speech, like a quiet room through a microphone
            noise_rms = speech_power**0.5 * 10.0 ** (-uniform(30.0, 60.0) / 20.0) if uniform() < cfg.silence_noisy_prob else 0.0
            wave = pad_silence(wave, lead, trail, noise_rms=noise_rms, generator=g)
            info.update(lead_silence=lead / sr, trail_silence=trail / sr, noisy_silence=noise_rms > 0)
        if uniform() < cfg.noise_prob:
            colour = cfg.noise_types[int(torch.randint(len(cfg.noise_types), (), generator=g))]
            snr = uniform(cfg.snr_db_min, cfg.snr_db_max)

            def others() -> list[torch.Tensor]:
                if other_utterance is None:
                    raise ValueError("babble noise needs other utterances; remove 'babble' from augment.noise_types")
                return [other_utterance(g) for _ in range(cfg.babble_speakers)]

            noise = make_noise(colour, wave.numel(), g, others)
            wave = mix_at_snr(wave, noise, snr, signal_power=speech_power)
            info.update(noise=colour, snr_db=snr)
        if uniform() < cfg.gain_prob:
            level = uniform(cfg.gain_db_min, cfg.gain_db_max)
            wave = apply_peak_gain(wave, level)
            info["peak_dbfs"] = level
        return wave, info
