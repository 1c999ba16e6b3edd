"""Speed perturbation by resampling (Ko et al. 2015, as Kaldi, WeNet and ESPnet do it).

Playing a recording ``factor`` times faster scales both its duration (by 1/factor)
and every frequency (by factor): pitch and formants move together, like a different
speaker talking at a different rate. Resampling does exactly that: read the N samples
as if they had been recorded at ``factor * sr`` and resample them to ``sr``, which
leaves about N / factor samples.
"""

from __future__ import annotations

from fractions import Fraction

import torch

from src.data.audio import resample


def speed_perturb(wave: torch.Tensor, factor: float, sample_rate: int) -> torch.Tensor:
    """(N,) -> (~N / factor,): ``factor`` > 1 is faster and shorter, < 1 slower and longer.

    The rate pair is reduced to a small ratio (0.9 -> 9/10) so the polyphase resampler's
    filter bank stays small.
    """
    if factor <= 0:
        raise ValueError(f"augment.speed_factors must be positive, got {factor}")
    if factor == 1.0:
        return wave
    ratio = Fraction(factor).limit_denominator(100)  # 1.1 -> 11/10
    # wave "at" sr * factor -> sr; resample works on integer rates, so use the ratio's terms
    return resample(wave, ratio.numerator, ratio.denominator)
