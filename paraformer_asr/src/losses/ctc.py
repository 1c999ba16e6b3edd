"""Connectionist temporal classification loss (Graves et al. 2006), in log space.

Extended labels. For a target y_1..y_L insert blanks: l' = (b, y_1, b, y_2, ..., y_L, b),
S = 2L + 1 states. An alignment is a path through the states that, at each
frame, stays, moves one state on, or skips one state -- the skip (s-2 -> s) only
into a label state whose label differs from l'_{s-2} (skipping the blank
between two equal labels would merge them: "aa" must be a, b, a).

Forward (alpha) recursion (Graves et al. 2006, eqs. 6-7), in log space:
    alpha_0(0) = lp_0(b),  alpha_0(1) = lp_0(y_1),  alpha_0(s >= 2) = -inf
    alpha_t(s) = lp_t(l'_s) + logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1), [alpha_{t-1}(s-2) if skip allowed])
    -log p(y | x) = -logsumexp(alpha_{T-1}(S-1), alpha_{T-1}(S-2))
(ending in the final blank or the final label). One step updates all (B, S)
states at once; the loop runs over time only. An utterance shorter than the
batch keeps its alpha frozen after its last frame, so the final read-out at
T_b - 1 is simply the last alpha.

"-inf" is a large finite negative number: logsumexp over all-"-inf" entries
then has finite gradients (true -inf gives NaN = exp(-inf - -inf)), and the
impossible states carry exactly zero weight in the result.

Edges, as F.ctc_loss: an utterance with 0 input frames has -log p = 0 for an empty
target (the empty alignment) and inf otherwise; a batch whose targets are all empty
(L = 0, one state) works; T_b < L_b + repeats gives inf.

``impl="torch"`` is the fast path F.ctc_loss, equal within float error (tests/losses/test_ctc.py).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from src.utils.masks import make_pad_mask

_NEG = -1e30  # "minus infinity" that keeps gradients finite


def ctc_nll(log_probs: torch.Tensor, targets: torch.Tensor, input_lens: torch.Tensor, target_lens: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """Per-utterance -log p(y | x) by the alpha recursion.

    Args:
        log_probs: (B, T, V) log-softmax outputs.
        targets: (B, L) int64, padded (any value past target_lens).
        input_lens: (B,) valid frames; target_lens: (B,) valid labels.
    Returns:
        (B,) negative log-likelihoods; +inf where no alignment exists (T too short).
    """
    b, t_max, _ = log_probs.shape
    device = log_probs.device
    l_max = targets.size(1)
    s_max = 2 * l_max + 1
    # Extended label sequence l' = blank, y1, blank, y2, ..., blank.
    ext = torch.full((b, s_max), blank, dtype=torch.long, device=device)  # (B, S)
    if l_max > 0:
        ext[:, 1::2] = targets.clamp(min=0)
    s_idx = torch.arange(s_max, device=device)  # (S,)
    ext_valid = ~make_pad_mask(2 * target_lens + 1, s_max)  # (B, S) states of each utterance's own l'
    # Skip s-2 -> s allowed into a non-blank state whose label differs from l'_{s-2}.
    prev2 = torch.cat([ext.new_full((b, 2), blank), ext], dim=1)[:, :s_max]  # (B, S) l'_{s-2}
    skip_ok = (ext != blank) & (ext != prev2) & (s_idx >= 2)  # (B, S)

    lp_ext = log_probs.gather(2, ext.unsqueeze(1).expand(b, t_max, s_max))  # (B, T, S) lp_t(l'_s)
    neg = torch.full((b, s_max), _NEG, dtype=log_probs.dtype, device=device)  # (B, S)
    if t_max == 0:
        lp_ext = log_probs.new_zeros(b, 1, s_max)  # (B, 1, S) unused: every utterance has 0 frames
    # One (B, S) view per frame: unbind's backward stacks the T frame gradients once, where
    # indexing lp_ext[:, t] would make each frame's backward zero-fill a whole (B, T, S)
    # gradient, quadratic in T (at T = 250, S = 121 that was 80 % of the loss's time).
    lp_frames = lp_ext.unbind(1)  # T x (B, S)
    start = (s_idx < 2).unsqueeze(0) & ext_valid  # (B, S) only states 0 and 1 at t = 0
    alpha = torch.where(start, lp_frames[0], neg)  # (B, S)
    # No frames: the only "alignment" is the empty one, in state 0 with probability 1.
    empty_input = (input_lens == 0).unsqueeze(1)  # (B, 1)
    alpha = torch.where(empty_input, torch.where(s_idx == 0, torch.zeros_like(alpha), neg), alpha)  # (B, S)
    neg_pad = torch.full((b, 2), _NEG, dtype=log_probs.dtype, device=device)  # shifts in from the left
    for t in range(1, t_max):
        stay = alpha
        move = torch.cat([neg_pad[:, :1], alpha], dim=1)[:, :s_max]  # (B, S) alpha_{t-1}(s-1)
        skip = torch.where(skip_ok, torch.cat([neg_pad, alpha], dim=1)[:, :s_max], neg)  # (B, S) alpha_{t-1}(s-2)
        new = torch.logsumexp(torch.stack([stay, move, skip]), dim=0) + lp_frames[t]  # (B, S)
        new = torch.where(ext_valid, new, neg)
        active = (t < input_lens).unsqueeze(1)  # (B, 1) freeze finished utterances
        alpha = torch.where(active, new, alpha)

    last = (2 * target_lens).unsqueeze(1)  # (B, 1) index S_b - 1 (final blank)
    end_blank = alpha.gather(1, last).squeeze(1)  # (B,)
    end_label = alpha.gather(1, (last - 1).clamp(min=0)).squeeze(1)  # (B,) final label (S_b - 2)
    end_label = torch.where(target_lens > 0, end_label, torch.full_like(end_label, _NEG))
    nll = -torch.logaddexp(end_blank, end_label)  # (B,)
    # No valid path leaves the likelihood at ~exp(-1e30): report it as inf like F.ctc_loss.
    return torch.where(nll > -_NEG / 2, torch.full_like(nll, float("inf")), nll)


def ctc_loss(
    log_probs: torch.Tensor,
    targets: torch.Tensor,
    input_lens: torch.Tensor,
    target_lens: torch.Tensor,
    *,
    blank: int = 0,
    reduction: Literal["none", "sum", "mean"] = "mean",
    zero_infinity: bool = True,
    impl: Literal["ours", "torch"] = "ours",
) -> torch.Tensor:
    """CTC loss with F.ctc_loss's reductions, on batch-first log-probs (B, T, V).

    ``mean`` divides each utterance's NLL by its target length (at least 1) and
    averages over the batch, as F.ctc_loss does. ``zero_infinity`` zeroes
    impossible utterances (and their gradients) instead of returning inf.
    """
    assert impl in ("ours", "torch"), f"loss.ctc_impl={impl!r} must be 'ours' or 'torch'"
    if impl == "torch":
        return F.ctc_loss(
            log_probs.transpose(0, 1), targets, input_lens, target_lens,
            blank=blank, reduction=reduction, zero_infinity=zero_infinity,
        )
    nll = ctc_nll(log_probs, targets, input_lens, target_lens, blank=blank)  # (B,)
    if zero_infinity:
        nll = torch.where(torch.isinf(nll), torch.zeros_like(nll), nll)
    if reduction == "none":
        return nll
    if reduction == "sum":
        return nll.sum()
    assert reduction == "mean", f"reduction={reduction!r} must be 'none', 'sum' or 'mean'"
    return (nll / target_lens.clamp(min=1).to(nll.dtype)).mean()
