"""Cross-entropy with label smoothing (Szegedy et al. 2016), averaged over valid tokens only.

The target distribution is q = (1 - eps) * onehot(y) + eps / V (the convention of
F.cross_entropy(label_smoothing=eps)), so
    CE(q, p) = (1 - eps) * (-log p_y) + eps * mean_v(-log p_v).
Padded positions (t >= lengths) contribute nothing, whatever their token value.
"""

from __future__ import annotations

import torch

from src.utils.masks import make_pad_mask


def label_smoothing_loss(logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """logits (B, L, V), targets (B, L), lengths (B,) -> scalar mean over the sum(lengths) valid tokens."""
    assert 0.0 <= smoothing < 1.0, f"model.label_smoothing={smoothing} must be in [0, 1)"
    valid_mask = ~make_pad_mask(lengths, logits.size(1))  # (B, L)
    log_p = torch.log_softmax(logits.float(), dim=-1)  # (B, L, V)
    nll = -log_p.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, L)
    uniform = -log_p.mean(-1)  # (B, L)
    per_token = (1.0 - smoothing) * nll + smoothing * uniform  # (B, L)
    per_token = per_token.masked_fill(~valid_mask, 0.0)
    return per_token.sum() / valid_mask.sum().clamp(min=1)
