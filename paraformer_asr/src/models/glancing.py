"""Glancing language model (GLM) sampler (Qian et al. 2021; Paraformer, Gao et al. 2022, section 2.3).

A NAR decoder predicts every token at once from acoustic embeddings, so it
never learns the dependencies between output tokens. GLM teaches them by
"glancing" at the answer, more where the model is worse:
  1. first pass (no gradient): y_hat = argmax D(E_a, H);
  2. wrong = #{i < L : y_hat_i != y_i}  (the Hamming distance d(y, y_hat));
  3. n = floor(lambda * wrong) positions, drawn uniformly among the L valid ones,
     get the target token's embedding E(y_i) instead of the acoustic one
     (Paraformer section 2.3: the number of sampled tokens is lambda * d(y, y_hat));
  4. the second pass on the mixture is the one trained (loss over all valid
     positions, as FunASR does).
As training converges, wrong -> 0 and the decoder input becomes purely
acoustic, matching inference, where no targets are available.
"""

from __future__ import annotations

import torch

from src.utils.masks import make_pad_mask


def glancing_sample(
    acoustic_embeds: torch.Tensor,
    target_embeds: torch.Tensor,
    predictions: torch.Tensor,
    targets: torch.Tensor,
    target_lens: torch.Tensor,
    ratio: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix acoustic and target embeddings.

    Args:
        acoustic_embeds: (B, L, D) CIF output; target_embeds: (B, L, D) decoder.embed(targets).
        predictions: (B, L) first-pass argmax; targets: (B, L); target_lens: (B,).
        ratio: lambda (model.sampling_ratio).
    Returns:
        mixed (B, L, D) and replaced (B, L) bool, with exactly floor(ratio * wrong_b)
        True entries per row b, all at valid positions.
    """
    valid_mask = ~make_pad_mask(target_lens, targets.size(1))  # (B, L)
    wrong = ((predictions != targets) & valid_mask).sum(1)  # (B,)
    # floor(lambda * wrong), computed in float64 with a tiny epsilon so e.g. 0.6 * 5 = 3 (not 2.9999).
    num = torch.floor(wrong.double() * ratio + 1e-9).long()  # (B,)
    # Uniform random ranks: padding gets key 2 > any rand in [0, 1), so it ranks last
    # and the n smallest keys are n distinct valid positions (n <= wrong <= L_b).
    keys = torch.rand(targets.shape, generator=generator, device=targets.device)  # (B, L)
    keys = keys.masked_fill(~valid_mask, 2.0)
    rank = keys.argsort(dim=1).argsort(dim=1)  # (B, L) rank of each position
    replaced = rank < num.unsqueeze(1)  # (B, L)
    mixed = torch.where(replaced.unsqueeze(-1), target_embeds, acoustic_embeds)  # (B, L, D)
    return mixed, replaced


