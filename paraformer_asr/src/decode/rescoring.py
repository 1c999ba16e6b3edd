"""Paraformer beam decoding: generate candidates, rescore them, keep the best combined score.

A single NAR pass commits to one length (the CIF count) and one token per
position. Candidates:
  * the greedy output itself (so the pick never scores below greedy),
  * the CTC prefix-beam n-best (when the model has a CTC head), and
  * the decoder's argmax for each length near the CIF count, N + delta, obtained
    by scaling alpha so that sum(alpha) = N + delta, exactly as in training.
Every candidate y is scored by the NAR decoder with CIF embeddings of length |y|:
    dec(y) = sum_i log p_dec(y_i | acoustic embeddings of length |y|)
and, with a CTC head, by the CTC labelling log-likelihood ctc(y) = log p_ctc(y | x)
(the alpha recursion of src/losses/ctc.py). The pick maximises
    score(y) = (1 - w) * dec(y) + w * ctc(y),        w = decode.ctc_weight.
Without a CTC head (or with w = 0) the decoder's sum cannot compare lengths fairly (each extra
token adds a negative term), so its mean per-token log-prob is used instead.
The empty output has no decoder terms (score 0, which beats every non-empty sum), so it is a
candidate only when the greedy output is empty too.
"""

from __future__ import annotations

import torch

from src.decode.hypothesis import Hypothesis


def combine_scores(dec_scores: torch.Tensor, ctc_scores: torch.Tensor | None, lengths: torch.Tensor, ctc_weight: float) -> torch.Tensor:
    """dec_scores (K,) summed log-probs, ctc_scores (K,) or None, lengths (K,) -> combined (K,).

    ``ctc_weight = 0`` is treated as "no CTC": 0 * (-inf) for a candidate CTC cannot
    align would be NaN.
    """
    if ctc_scores is None or ctc_weight == 0.0:
        return dec_scores / lengths.clamp(min=1).to(dec_scores.dtype)
    return (1.0 - ctc_weight) * dec_scores + ctc_weight * ctc_scores


def pick_best(candidates: list[list[int]], frames: list[list[int] | None], combined: torch.Tensor) -> list[Hypothesis]:
    """Hypotheses sorted by combined score (K,), best first."""
    order = torch.argsort(combined, descending=True).tolist()
    return [Hypothesis(candidates[i], float(combined[i]), frames[i]) for i in order]
