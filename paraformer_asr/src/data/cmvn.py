"""Global cepstral mean and variance normalisation (CMVN) from training statistics.

Log-mel values sit around 5..20 with per-bin offsets set by the recording chain.
Subtracting each bin's training mean and dividing by its standard deviation gives
the network zero-mean, unit-variance inputs, which makes the first layers'
initialisation and the learning rate behave as on the toy task. The statistics are
*global* (one mean/std per mel bin over every training frame), computed once, stored
in the checkpoint and applied unchanged at train, eval and inference time.
"""

from __future__ import annotations

from typing import Any

import torch


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

    def accumulate(self, feats: torch.Tensor) -> None:
        """Add the frames of one utterance, (T, F)."""
        if feats.dim() != 2 or feats.shape[1] != self.num_bins:
            raise ValueError(f"CMVN expects (T, {self.num_bins}) features, got {tuple(feats.shape)}")
        f = feats.detach().to(torch.float64)
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
