"""Test-time vocal tract length normalisation (VTLN) for CTC decoding.

A speaker's vocal tract length scales all their formants by about one factor, so a voice
unlike the training voices (a woman's, when training had mostly men and synthetic
voices) looks to the model like a spectrum stretched by some alpha. Classic VTLN (Lee &
Rose 1996; Kaldi's and HTK's warp-factor search) undoes it at test time: try a few warp
factors, keep the one under which the model explains the utterance best. Here "best" is
the CTC best path's log-probability,

    alpha* = argmax_alpha  sum_t max_v log p(v | t, x_alpha),

the frame-wise maximum summed over the utterance's frames (the same T' for every alpha, so
the sum needs no length normalisation), and the utterance is decoded from the log-probs
under alpha*. The warp is the training-time VTLP warp of src/data/spec_augment.py, applied
to the log-mel spectrum before CMVN; since the model's inputs are already normalised, each
batch is un-normalised with the checkpoint's CMVN statistics, warped and normalised again.

It costs one encoder pass per warp factor, and it needs a model with a CTC head
(``ctc_log_probs``): the search picks among the CTC posteriors, which every CTC decode
method (greedy, prefix beam, with an LM) then reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from src.data.cmvn import GlobalCMVN
from src.data.spec_augment import frequency_warp
from src.utils.config import FeaturesConfig
from src.utils.masks import make_pad_mask


def parse_warps(text: str) -> list[float]:
    """``"0.8,0.9,1.0"`` -> [0.8, 0.9, 1.0] (for argparse: a bad value raises ValueError)."""
    warps = [float(a) for a in text.split(",") if a.strip()]
    if not warps:
        raise ValueError(f"no warp factors in {text!r}")
    return warps


class VTLNSearch:
    """Warp factors to try, with what is needed to warp normalised features."""

    def __init__(self, warps: Sequence[float], cmvn: GlobalCMVN, features: FeaturesConfig) -> None:
        if not warps or any(not 0.5 < a < 1.5 for a in warps):
            raise ValueError(f"VTLN warp factors {list(warps)} must be a non-empty list of values in (0.5, 1.5), e.g. 0.8,0.9,1.0")
        if cmvn.num_bins != features.num_mel_bins:
            raise ValueError(f"CMVN has {cmvn.num_bins} bins but features.num_mel_bins is {features.num_mel_bins}")
        self.warps = tuple(float(a) for a in warps)
        self.mean, self.std = cmvn.mean, cmvn.std  # (F,) float64
        self.features = features

    @classmethod
    def for_checkpoint(cls, warps: Sequence[float], *, model_name: str, cmvn_state: dict | None,
                       features: FeaturesConfig) -> "VTLNSearch":
        """The search for a loaded checkpoint; ValueError names what it lacks (a CTC model, CMVN)."""
        if model_name != "ctc":
            raise ValueError(f"VTLN decodes the CTC model (model.name: ctc); this checkpoint is {model_name!r}")
        if cmvn_state is None:
            raise ValueError("VTLN warps the log-mel spectrum, which needs the checkpoint's CMVN statistics: "
                             "use a checkpoint trained on audio")
        return cls(warps, GlobalCMVN.from_dict(cmvn_state), features)

    def warp(self, feats: torch.Tensor, alpha: float) -> torch.Tensor:
        """CMVN-normalised (B, T, F) -> the same features of a spectrum stretched by ``alpha`` (normalised)."""
        if feats.shape[-1] != self.features.num_mel_bins:
            raise ValueError(f"VTLN warps {self.features.num_mel_bins} mel bins, but the features have {feats.shape[-1]}")
        if alpha == 1.0:
            return feats
        mean, std = self.mean.to(feats), self.std.to(feats)
        warped = frequency_warp(feats * std + mean, alpha, self.features)  # (B, T, F): the log-mel, warped
        return (warped - mean) / std

    def log_probs(self, model: torch.nn.Module, feats: torch.Tensor, feat_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """feats (B, T, F) -> CTC log-probs (B, T', V) under each utterance's best warp, T' (B,), and the warps (B,)."""
        best_lp, best_score, best_alpha, lens = None, None, None, None
        for alpha in self.warps:
            lp, lens = model.ctc_log_probs(self.warp(feats, alpha), feat_lens)  # (B, T', V)
            valid = ~make_pad_mask(lens, lp.size(1))  # (B, T')
            score = (lp.max(dim=-1).values * valid).sum(dim=1)  # (B,): best-path log-prob
            if best_lp is None:
                best_lp, best_score = lp, score
                best_alpha = torch.full_like(score, alpha)
                continue
            better = score > best_score  # ties keep the earlier factor
            best_lp = torch.where(better[:, None, None], lp, best_lp)
            best_score = torch.where(better, score, best_score)
            best_alpha = torch.where(better, torch.full_like(score, alpha), best_alpha)
        return best_lp, lens, best_alpha


__all__ = ["VTLNSearch", "parse_warps"]
