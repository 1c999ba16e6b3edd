"""Token-count loss for the CIF predictor (Paraformer section 2.4): L_MAE = mean_b |L_b - sum_t alpha_{b,t} / beta|.

The predicted count is sum(alpha) / beta (``CifOutput.predicted_count``) because CIF fires
once per beta (``predictor.threshold``) of weight, in training and at inference alike.
"""

from __future__ import annotations

import torch


def mae_loss(predicted_counts: torch.Tensor, target_counts: torch.Tensor) -> torch.Tensor:
    """predicted_counts (B,) float (sum of alphas / beta), target_counts (B,) -> scalar mean absolute error."""
    return (predicted_counts - target_counts.to(predicted_counts.dtype)).abs().mean()
