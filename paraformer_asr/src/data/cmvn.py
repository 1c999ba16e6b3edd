"""Global cepstral mean and variance normalisation (CMVN) from training statistics.

Log-mel values sit around 5..20 with per-bin offsets set by the recording chain.
Subtracting each bin's training mean and dividing by its standard deviation gives
the network zero-mean, unit-variance inputs, which makes the first layers'
initialisation and the learning rate behave as on the toy task. The statistics are
*global* (one mean/std per mel bin over every training frame), computed once, stored
in the checkpoint and applied unchanged at train, eval and inference time.

Which frames: short TTS clips and padded recordings are up to half silence. With every
frame counted, each bin's mean sits between the speech and the silence level and its
std is inflated by the gap between the two, so speech is squeezed into a fraction of a
CMVN unit and its statistics shift with the amount of padding. ``accumulate(...,
frame_range_db=R)`` therefore keeps only frames whose total mel energy is within R dB
of the utterance's loudest frame (an energy VAD relative to each utterance, so it does
not depend on the recording level). Silence then maps to large negative values, a
condition the model learns from silence-padded augmented training data. We chose this
over per-utterance CMVN because a per-utterance mean depends on how much of the
utterance is speech (and on its text), while the global statistics stay fixed.
"""

from __future__ import annotations

from typing import Any

import math

import torch


def speech_frame_mask(feats: torch.Tensor, frame_range_db: float) -> torch.Tensor:
    """(T, F) log-mel -> (T,) bool valid_mask: frames within ``frame_range_db`` dB of the loudest.

    A frame's energy is log(sum_b exp(feats[t, b])), the log of its total mel energy;
    R dB is R ln(10) / 10 in these natural-log units. ``frame_range_db <= 0`` keeps all.
    """
    if frame_range_db <= 0 or feats.shape[0] == 0:
        return torch.ones(feats.shape[0], dtype=torch.bool)
    energy = torch.logsumexp(feats.to(torch.float64), dim=1)  # (T,)
    return energy >= energy.max() - frame_range_db * math.log(10.0) / 10.0


class GlobalCMVN:
    """Per-bin mean and inverse std over all training frames.

    Usage::

        cmvn = GlobalCMVN(num_bins=80)
        for feats in training_features:   # each (T, F)
            cmvn.accumulate(feats)
        feats = cmvn.apply(feats)          # (T, F) -> (T, F)
        ckpt["cmvn"] = cmvn.to_dict()      # plain lists: fine for weights_only=True
    """

    def __init__(self, num_bins: int, *, min_std: float = 1e-3) -> None:
        self.num_bins = num_bins
        self.min_std = min_std  # a constant bin (e.g. all floor) must not blow up to inf
        # Running sums in float64: 3000 utterances x 300 frames of values ~15 squared
        # lose digits in float32, and var = E[x^2] - E[x]^2 cancels catastrophically.
        self.sum = torch.zeros(num_bins, dtype=torch.float64)  # (F,)
        self.sum_sq = torch.zeros(num_bins, dtype=torch.float64)  # (F,)
        self.count = 0

    def accumulate(self, feats: torch.Tensor, *, frame_range_db: float = 0.0) -> None:
        """Add the frames of one utterance, (T, F); with ``frame_range_db`` > 0 only its speech frames."""
        if feats.dim() != 2 or feats.shape[1] != self.num_bins:
            raise ValueError(f"CMVN expects (T, {self.num_bins}) features, got {tuple(feats.shape)}")
        f = feats.detach().to(torch.float64)
        f = f[speech_frame_mask(f, frame_range_db)]  # (T_speech, F)
        self.sum += f.sum(dim=0)
        self.sum_sq += f.square().sum(dim=0)
        self.count += f.shape[0]

    @property
    def mean(self) -> torch.Tensor:
        """(F,) float64."""
        self._check_ready()
        return self.sum / self.count

    @property
    def std(self) -> torch.Tensor:
        """(F,) float64, floored at ``min_std``."""
        self._check_ready()
        var = self.sum_sq / self.count - self.mean.square()
        return var.clamp(min=0.0).sqrt().clamp(min=self.min_std)

    def _check_ready(self) -> None:
        if self.count == 0:
            raise RuntimeError("GlobalCMVN has no statistics; call accumulate() on the training features first")

    def apply(self, feats: torch.Tensor) -> torch.Tensor:
        """(T, F) or (B, T, F) -> same shape, (x - mean) / std per bin, in the input dtype."""
        mean = self.mean.to(feats.dtype).to(feats.device)
        istd = (1.0 / self.std).to(feats.dtype).to(feats.device)
        return (feats - mean) * istd

    def to_dict(self) -> dict[str, Any]:
        """Plain Python lists and numbers, so ``torch.load(weights_only=True)`` accepts it."""
        return {
            "num_bins": self.num_bins,
            "count": self.count,
            "min_std": self.min_std,
            "sum": self.sum.tolist(),
            "sum_sq": self.sum_sq.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GlobalCMVN:
        """Inverse of :meth:`to_dict`."""
        missing = {"num_bins", "count", "sum", "sum_sq"} - set(data)
        if missing:
            raise ValueError(f"CMVN dict lacks {sorted(missing)}; it must come from GlobalCMVN.to_dict()")
        cmvn = cls(int(data["num_bins"]), min_std=float(data.get("min_std", 1e-3)))
        cmvn.sum = torch.tensor(data["sum"], dtype=torch.float64)
        cmvn.sum_sq = torch.tensor(data["sum_sq"], dtype=torch.float64)
        cmvn.count = int(data["count"])
        if cmvn.sum.shape != (cmvn.num_bins,) or cmvn.sum_sq.shape != (cmvn.num_bins,):
            raise ValueError(f"CMVN dict: sums must have num_bins={cmvn.num_bins} entries")
        return cmvn

    def __repr__(self) -> str:
        return f"GlobalCMVN(num_bins={self.num_bins}, frames={self.count})"
