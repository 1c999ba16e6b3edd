"""Continuous integrate-and-fire (CIF) predictor (Dong & Xu 2020; Paraformer, Gao et al. 2022, section 2.2).

Weights. A conv over time + linear + sigmoid gives one weight per encoder frame,
    alpha_t = sigmoid(w^T ReLU(conv(H) + H)_t + b) in (0, 1),   alpha_t = 0 on padding,
read as "how much of a token frame t carries". The predicted token count is
sum_t alpha_t (the MAE loss pulls it to the true length L; Paraformer section 2.4).

Integrate and fire. Walk over frames accumulating a_acc = sum of alphas since
the last fire and the weighted state h_acc = sum alpha_t h_t. When the next
alpha would push a_acc to the threshold beta (1.0), split it:
    alpha_t = (beta - a_acc)  [completes the current token]  +  r  [starts the next one]
fire  e_i = h_acc + (beta - a_acc) h_t,  then restart with a_acc = r, h_acc = r h_t.
So every token embedding e_i is a weighted sum of frames whose weights add to
exactly beta, and token i "fires" at frame t (its timestamp). A scaled alpha
can exceed beta; then one frame fires several times (the inner while loop).

Training (target lengths known): alpha is scaled, alpha'_t = alpha_t * L beta / sum(alpha),
so sum(alpha') = L beta exactly and CIF, firing every beta, emits exactly L
embeddings -- the decoder's input length matches the target (Paraformer
section 2.2, there with beta = 1). Float rounding can leave the L-th token a
hair under beta at the last frame, so in training a leftover of at least beta/2
fires too (the leftover is ~0 or ~beta, nothing between).

Counting. A token is beta of weight, so the predicted count is sum(alpha) / beta
(``CifOutput.predicted_count``); the MAE loss pulls it to L.

Inference: sum(alpha) / beta is not an integer. The tail rule is FunASR's: it
appends one frame of weight ``tail_threshold`` (default 0.45) after the last valid
frame and integrates on, so the leftover fires one final token (at the last valid
frame) iff leftover + tail_threshold >= beta, i.e. leftover >= 0.55 for the
defaults. The predicted length is the number of fires:
floor(sum(alpha) / beta + tail_threshold / beta) when no frame is split oddly.

Two equal implementations (``predictor.impl``, equality tested with gradients):
``integrate_and_fire`` loops over time (T' is tens of frames), vectorised over
the batch -- the readable reference; an utterance past its length has alpha = 0
there and never fires again. ``integrate_and_fire_parallel`` (the default,
~40x faster at T' = 150) writes the same weights as one matrix from the
cumulative sum of alpha and needs no Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from src.utils.masks import make_pad_mask


@dataclass
class CifOutput:
    """What the predictor returns (L = number of fires, padded to the batch max or the target width)."""

    acoustic_embeds: torch.Tensor  # (B, L, D), zero past token_lens
    token_lens: torch.Tensor  # (B,) int64: number of fires (== target lengths in training)
    alphas: torch.Tensor  # (B, T') weights actually integrated (scaled in training)
    alpha_sum: torch.Tensor  # (B,) sum of the unscaled alphas
    fire_frames: torch.Tensor  # (B, L) int64 encoder frame where each token fired; -1 on padding
    predicted_count: torch.Tensor  # (B,) alpha_sum / beta: the predicted token count, for the MAE loss


def integrate_and_fire(
    hidden: torch.Tensor,
    alphas: torch.Tensor,
    *,
    threshold: float = 1.0,
    tail_threshold: float = 0.5,
    lengths: torch.Tensor | None = None,
    max_tokens: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integrate ``alphas``-weighted frames of ``hidden`` and fire at every ``threshold``.

    Args:
        hidden: (B, T', D) encoder states.
        alphas: (B, T') non-negative weights, already zero on padding.
        threshold: beta, the weight of one token.
        tail_threshold: weight of FunASR's appended tail frame: after the last frame a leftover
            fires one more token iff leftover + tail_threshold >= threshold.
        lengths: (B,) valid frames (the tail token's fire frame is lengths - 1); default all T'.
        max_tokens: width L of the output (extra fires are dropped, missing ones zero-padded);
            default the largest count in the batch.
    Returns:
        embeds (B, L, D), counts (B,) int64, fire_frames (B, L) int64 (-1 on padding).
    """
    b, t_max, d = hidden.shape
    if lengths is None:
        lengths = torch.full((b,), t_max, dtype=torch.long, device=hidden.device)
    a_acc = hidden.new_zeros(b)  # (B,) weight integrated since the last fire
    h_acc = hidden.new_zeros(b, d)  # (B, D) weighted state since the last fire
    events: list[torch.Tensor] = []  # each (B, D): an embedding, kept where `fired`
    fired: list[torch.Tensor] = []  # each (B,) bool
    frames: list[int] = []  # frame index of each event

    for t in range(t_max):
        h_t = hidden[:, t]  # (B, D)
        rest = alphas[:, t]  # (B,) weight of frame t not yet assigned to a token
        while True:
            fire = a_acc + rest >= threshold  # (B,)
            if not bool(fire.any()):
                break
            # The part of alpha_t that completes the current token: beta - a_acc.
            take = torch.where(fire, threshold - a_acc, torch.zeros_like(rest))  # (B,)
            events.append(h_acc + take.unsqueeze(1) * h_t)  # (B, D)
            fired.append(fire)
            frames.append(t)
            rest = rest - take
            a_acc = torch.where(fire, torch.zeros_like(a_acc), a_acc)
            h_acc = torch.where(fire.unsqueeze(1), torch.zeros_like(h_acc), h_acc)
        # What is left of alpha_t starts (or continues) the next token.
        a_acc = a_acc + rest
        h_acc = h_acc + rest.unsqueeze(1) * h_t  # (B, D)

    # Tail: the leftover after the last valid frame (alphas are 0 beyond it) plus FunASR's
    # appended tail weight; the appended frame's state is zero, so the embedding is h_acc.
    tail = a_acc + tail_threshold >= threshold  # (B,)
    if bool(tail.any()):
        events.append(h_acc)
        fired.append(tail)
        frames.append(-2)  # placeholder: the tail fires at each utterance's own last frame

    counts = torch.stack(fired, dim=1).sum(1) if fired else torch.zeros(b, dtype=torch.long, device=hidden.device)  # (B,)
    width = int(counts.max()) if max_tokens is None and b > 0 else (max_tokens or 0)
    embeds = hidden.new_zeros(b, width, d)  # (B, L, D)
    fire_frames = torch.full((b, width), -1, dtype=torch.long, device=hidden.device)  # (B, L)
    if events:
        ev = torch.stack(events, dim=1)  # (B, E, D) E = fire events over the batch
        fired_mat = torch.stack(fired, dim=1)  # (B, E)
        ev_frames = torch.tensor(frames, dtype=torch.long, device=hidden.device).expand(b, -1)  # (B, E)
        ev_frames = torch.where(ev_frames == -2, (lengths - 1).clamp(min=0).unsqueeze(1), ev_frames)  # (B, E)
        # Slot of each event among its utterance's fires: 0, 1, 2, ... in time order.
        slot = fired_mat.long().cumsum(1) - 1  # (B, E)
        keep = fired_mat & (slot < width)  # (B, E)
        bi, ei = keep.nonzero(as_tuple=True)
        embeds = embeds.index_put((bi, slot[bi, ei]), ev[bi, ei])  # (B, L, D), differentiable in ev
        fire_frames[bi, slot[bi, ei]] = ev_frames[bi, ei]
    return embeds, counts.clamp(max=width), fire_frames


def integrate_and_fire_parallel(
    hidden: torch.Tensor,
    alphas: torch.Tensor,
    *,
    threshold: float = 1.0,
    tail_threshold: float = 0.5,
    lengths: torch.Tensor | None = None,
    max_tokens: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The same integrate-and-fire without a loop: same arguments and results as ``integrate_and_fire``.

    Lay the alphas end to end on a line: frame t covers [c_{t-1}, c_t) with c_t = sum_{tau<=t} alpha_tau,
    and token i (1-based) owns [(i-1) beta, i beta). The loop gives token i exactly the part of
    each frame that falls in its slot, so
        W[i, t] = max(0, min(c_t, i beta) - max(c_{t-1}, (i-1) beta)),    e_i = sum_t W[i, t] h_t,
    one (B, L, T') x (B, T', D) matmul. Token i fires at the first t with c_t >= i beta; the
    count is floor(c_T / beta) plus one if the leftover c_T - floor(.) beta plus the tail
    threshold reaches beta (the tail token's slot then holds just the leftover, as in the loop).
    """
    b, t_max, d = hidden.shape
    if lengths is None:
        lengths = torch.full((b,), t_max, dtype=torch.long, device=hidden.device)
    c = alphas.cumsum(1)  # (B, T') c_t
    c_prev = torch.cat([c.new_zeros(b, 1), c[:, :-1]], dim=1)  # (B, T') c_{t-1}
    total = c[:, -1] if t_max > 0 else c.new_zeros(b)  # (B,)
    full = torch.floor(total / threshold)  # (B,) tokens whose slot is complete
    counts = (full + (total - full * threshold + tail_threshold >= threshold).to(full.dtype)).long()  # (B,)
    width = (int(counts.max()) if b > 0 else 0) if max_tokens is None else max_tokens
    counts = counts.clamp(max=width)
    slot_end = torch.arange(1, width + 1, dtype=c.dtype, device=c.device) * threshold  # (L,) i beta
    upper = torch.minimum(c.unsqueeze(1), slot_end.view(1, -1, 1))  # (B, L, T')
    lower = torch.maximum(c_prev.unsqueeze(1), (slot_end - threshold).view(1, -1, 1))  # (B, L, T')
    weights = (upper - lower).clamp(min=0)  # (B, L, T') W[i, t]
    valid_mask = ~make_pad_mask(counts, width)  # (B, L)
    weights = weights * valid_mask.unsqueeze(-1).to(weights.dtype)
    embeds = torch.bmm(weights, hidden)  # (B, L, D)
    # First t with c_t >= i beta = number of frames with c_t < i beta; never reached -> last frame.
    first = (c.unsqueeze(1) < slot_end.view(1, -1, 1)).sum(-1)  # (B, L)
    fire_frames = torch.minimum(first, (lengths - 1).clamp(min=0).unsqueeze(1))  # (B, L)
    fire_frames = fire_frames.masked_fill(~valid_mask, -1)
    return embeds, counts, fire_frames


class CifPredictor(nn.Module):
    """Encoder states -> per-frame alpha -> one acoustic embedding per token."""

    def __init__(
        self,
        *,
        d_model: int,
        conv_kernel: int = 3,
        threshold: float = 1.0,
        tail_threshold: float = 0.45,
        dropout: float = 0.1,
        impl: str = "parallel",
    ) -> None:
        super().__init__()
        if not threshold > 0 or not 0 <= tail_threshold < threshold:
            raise ValueError(
                f"predictor.threshold={threshold} must be > 0 and predictor.tail_threshold={tail_threshold} in [0, threshold)"
            )
        assert impl in ("parallel", "loop"), f"predictor.impl={impl!r} must be 'parallel' or 'loop'"
        self.integrate = integrate_and_fire_parallel if impl == "parallel" else integrate_and_fire
        assert conv_kernel % 2 == 1, f"predictor.conv_kernel={conv_kernel} must be odd (symmetric context)"
        self.threshold = threshold
        self.tail_threshold = tail_threshold
        self.conv = nn.Conv1d(d_model, d_model, conv_kernel, padding=conv_kernel // 2)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(d_model, 1)

    def compute_alphas(self, hidden: torch.Tensor, hidden_lens: torch.Tensor) -> torch.Tensor:
        """hidden (B, T', D), lengths (B,) -> alphas (B, T') in (0, 1), exactly 0 on padding."""
        pad_mask = make_pad_mask(hidden_lens, hidden.size(1))  # (B, T')
        # Zero padding before the conv so the last real frames see the same zeros
        # the conv's own padding shows an unpadded utterance.
        x = hidden.masked_fill(pad_mask.unsqueeze(-1), 0.0)  # (B, T', D)
        y = self.conv(x.transpose(1, 2)).transpose(1, 2) + x  # (B, T', D) residual, as in FunASR
        y = torch.relu(self.dropout(y))
        # float32 even under autocast: fire decisions compare running sums with beta,
        # and a bf16 sum of L alphas is off by far more than the tail margin.
        alphas = torch.sigmoid(self.linear(y).float()).squeeze(-1)  # (B, T')
        return alphas.masked_fill(pad_mask, 0.0)  # (B, T')

    def forward(
        self,
        hidden: torch.Tensor,
        hidden_lens: torch.Tensor,
        target_lens: torch.Tensor | None = None,
        max_tokens: int | None = None,
    ) -> CifOutput:
        """hidden (B, T', D), hidden_lens (B,), target_lens (B,) in training -> CifOutput.

        With ``target_lens`` the output width is ``max_tokens`` (default max(target_lens))
        and exactly ``target_lens[b]`` embeddings are filled for utterance b.
        """
        alphas = self.compute_alphas(hidden, hidden_lens)  # (B, T')
        alpha_sum = alphas.sum(1)  # (B,)
        if target_lens is not None:
            # Scale so sum(alpha') = L beta: CIF, firing every beta, then fires exactly L times.
            scale = target_lens.to(alphas.dtype) * self.threshold / alpha_sum.clamp(min=1e-6)  # (B,)
            used = alphas * scale.unsqueeze(1)  # (B, T')
            width = int(target_lens.max()) if max_tokens is None and target_lens.numel() else max_tokens
            tail = 0.5 * self.threshold
        else:
            used, width, tail = alphas, max_tokens, self.tail_threshold
        embeds, counts, fire_frames = self.integrate(
            hidden.float(), used, threshold=self.threshold, tail_threshold=tail, lengths=hidden_lens, max_tokens=width
        )
        return CifOutput(embeds, counts, used, alpha_sum, fire_frames, alpha_sum / self.threshold)
