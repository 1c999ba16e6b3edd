"""Greedy decoding: CTC best path, Paraformer's single NAR pass, AR step-by-step argmax."""

from __future__ import annotations

from typing import Callable

import torch

from src.decode.hypothesis import BLANK_ID, SPECIAL_IDS, Hypothesis


def ctc_greedy_search(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = BLANK_ID) -> list[Hypothesis]:
    """Best path: argmax per frame, collapse repeats, drop blanks.

    log_probs (B, T', V), lengths (B,). Score = log-prob of the best *path* (not of the
    labelling, which sums over paths -- see ctc_prefix_beam_search). ``token_frames`` is
    the first frame of each emitted token's run.
    """
    best_lp, best = log_probs.max(-1)  # (B, T'), (B, T')
    hyps = []
    for b in range(log_probs.size(0)):
        n = int(lengths[b])
        path = best[b, :n].tolist()
        tokens, frames, prev = [], [], blank
        for t, tok in enumerate(path):
            if tok != prev and tok not in SPECIAL_IDS:  # blank, and a stray <sos/eos>, are never output
                tokens.append(tok)
                frames.append(t)
            prev = tok
        hyps.append(Hypothesis(tokens, float(best_lp[b, :n].sum()), frames))
    return hyps


def nar_greedy_search(logits: torch.Tensor, lengths: torch.Tensor, fire_frames: torch.Tensor | None = None) -> list[Hypothesis]:
    """Paraformer: argmax at every position of one decoder pass.

    logits (B, L, V), lengths (B,) predicted token counts, fire_frames (B, L).
    Score = sum of the chosen tokens' log-probs. Positions predicting blank or
    sos/eos are dropped (with their frames).
    """
    log_p = torch.log_softmax(logits.float(), dim=-1)  # (B, L, V)
    best_lp, best = log_p.max(-1)  # (B, L), (B, L)
    hyps = []
    for b in range(logits.size(0)):
        n = int(lengths[b])
        toks = best[b, :n].tolist()
        frames = fire_frames[b, :n].tolist() if fire_frames is not None else None
        keep = [i for i, tok in enumerate(toks) if tok not in SPECIAL_IDS]
        hyps.append(
            Hypothesis([toks[i] for i in keep], float(best_lp[b, :n].sum()), [frames[i] for i in keep] if frames is not None else None)
        )
    return hyps


def ar_greedy_search(
    step: Callable[[torch.Tensor, object], tuple[torch.Tensor, object]],
    state: object,
    *,
    batch_size: int,
    max_lens: torch.Tensor,
    sos: int,
    eos: int,
    device: torch.device | str = "cpu",
) -> list[Hypothesis]:
    """Feed the argmax back until every row has produced <eos> or reached its max length.

    ``step(tokens (N,), state) -> (log_probs (N, V), state)``. Rows are independent,
    so the batch result equals decoding each row alone. Score = sum of chosen
    log-probs including the <eos> step.
    """
    tokens = torch.full((batch_size,), sos, dtype=torch.long, device=device)
    out: list[list[int]] = [[] for _ in range(batch_size)]
    scores = [0.0] * batch_size
    done = [False] * batch_size
    for i in range(int(max_lens.max()) + 1 if batch_size else 0):
        log_probs, state = step(tokens, state)  # (N, V)
        lp, tokens = log_probs.max(-1)  # (N,), (N,)
        for b in range(batch_size):
            if done[b]:
                continue
            scores[b] += float(lp[b])
            tok = int(tokens[b])
            if tok == eos or i >= int(max_lens[b]):
                done[b] = True
            else:
                out[b].append(tok)
        if all(done):
            break
    return [Hypothesis([t for t in toks if t not in SPECIAL_IDS], s, None) for toks, s in zip(out, scores)]
