"""Autoregressive beam search with length normalisation.

Keeps ``beam_size`` partial hypotheses ranked by their summed log-probability.
Each step scores every (beam, token) extension, keeps the best ``beam_size``
that do not end, and retires those that pick <eos> into a finished list.
Summed log-probs always prefer shorter outputs (every token adds a negative
term), so finished hypotheses are compared by score / len^length_penalty
(Wu et al. 2016 use a smoothed variant; len counts the tokens plus <eos>).
``length_penalty = 0`` compares raw sums. The search stops at ``max_len``
(unfinished beams are then closed with <eos>), when no beam is left, or when
``beam_size`` hypotheses have finished and the best alive one could not enter them.
"""

from __future__ import annotations

from typing import Callable

import torch

from src.decode.hypothesis import SPECIAL_IDS, Hypothesis


def ar_beam_search(
    step: Callable[[torch.Tensor, object], tuple[torch.Tensor, object]],
    state: object,
    select: Callable[[object, torch.Tensor], object],
    *,
    beam_size: int,
    max_len: int,
    sos: int,
    eos: int,
    length_penalty: float = 1.0,
    device: torch.device | str = "cpu",
) -> list[Hypothesis]:
    """Beam search for ONE utterance.

    Args:
        step: ``step(tokens (N,), state) -> (log_probs (N, V), state)`` for N rows.
        state: decoder state for 1 row (the utterance); ``select(state, rows (N,))``
            gathers/reorders rows (how beams inherit their parent's cache).
        max_len: most tokens before <eos>.
    Returns:
        Finished hypotheses, best first by normalised score (Hypothesis.score holds it).
    """
    norm = lambda s, n: s / max(n, 1) ** length_penalty  # noqa: E731
    tokens = torch.full((1,), sos, dtype=torch.long, device=device)
    seqs: list[list[int]] = [[]]
    scores = torch.zeros(1, dtype=torch.float64, device=device)  # (N,)
    finished: list[tuple[float, list[int]]] = []
    for i in range(max_len + 1):
        log_probs, state = step(tokens, state)  # (N, V)
        n, v = log_probs.shape
        total = scores.unsqueeze(1) + log_probs.double()  # (N, V)
        if i == max_len:
            # Out of room: every beam must end here, with <eos>.
            for r in range(n):
                finished.append((norm(float(total[r, eos]), len(seqs[r]) + 1), seqs[r]))
            break
        top_scores, top_idx = total.view(-1).topk(min(2 * beam_size, n * v))  # (2K,)
        keep_rows, keep_tokens, keep_scores, new_seqs = [], [], [], []
        for rank, (s, idx) in enumerate(zip(top_scores.tolist(), top_idx.tolist())):
            row, tok = divmod(idx, v)
            if tok == eos:
                # Only an <eos> ranked among the best K extensions ends a hypothesis; a
                # low-ranked one would fill the finished list with poor outputs early.
                if rank < beam_size:
                    finished.append((norm(s, len(seqs[row]) + 1), seqs[row]))
            elif len(keep_rows) < beam_size:
                keep_rows.append(row)
                keep_tokens.append(tok)
                keep_scores.append(s)
                new_seqs.append(seqs[row] + [tok])
        if not keep_rows:
            break
        if len(finished) >= beam_size:
            # Heuristic stop (as in Hugging Face's BeamHypotheses): the best alive beam,
            # were it to end now, would not enter the K best finished ones.
            kth_best = sorted((f[0] for f in finished), reverse=True)[beam_size - 1]
            if norm(max(keep_scores), len(new_seqs[0]) + 1) < kth_best:
                break
        rows = torch.tensor(keep_rows, dtype=torch.long, device=device)
        state = select(state, rows)
        tokens = torch.tensor(keep_tokens, dtype=torch.long, device=device)
        scores = torch.tensor(keep_scores, dtype=torch.float64, device=device)
        seqs = new_seqs
    finished.sort(key=lambda x: x[0], reverse=True)
    return [Hypothesis([t for t in seq if t not in SPECIAL_IDS], s, None) for s, seq in finished[:beam_size]]
