"""CTC prefix beam search (Graves 2012 ch. 7; Hannun et al. 2014).

Many frame paths collapse to one labelling, so the best path (greedy) is not
the most probable labelling. Here a hypothesis is a collapsed prefix, and for
each prefix we keep two log-probabilities over all paths of the frames so far:
    p_b  : paths that end in blank,     p_nb : paths that end in the prefix's last label.
Extending at frame t with log-probs lp:
    blank           : p_b'(y)     += (p_b + p_nb)(y) * lp(blank)
    repeat last c   : p_nb'(y)    += p_nb(y) * lp(c)          (stays the same label)
                      p_nb'(y+c)  += p_b(y) * lp(c)           (blank between: a new c)
    other label c   : p_nb'(y+c)  += (p_b + p_nb)(y) * lp(c)
(+= and * are logaddexp and + in log space). After each frame the beam keeps the
``beam_size`` prefixes with the highest p_b + p_nb.
"""

from __future__ import annotations

import math

import torch

from src.decode.hypothesis import BLANK_ID, SPECIAL_IDS, Hypothesis

_NEG_INF = -math.inf


def _lse(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m))


def ctc_prefix_beam_search(log_probs: torch.Tensor, *, beam_size: int = 4, blank: int = BLANK_ID, token_topk: int | None = None) -> list[Hypothesis]:
    """n-best labellings for one utterance.

    Args:
        log_probs: (T', V) log-softmax outputs of the valid frames.
        beam_size: prefixes kept per frame (also the size of the returned n-best).
        token_topk: extend only with each frame's k most likely labels (default beam_size).
    Returns:
        Up to ``beam_size`` hypotheses, best first; score = log p(labelling | x) summed over
        its paths; token_frames = frame where each token was first emitted on the path that created it.
    """
    lp = log_probs.detach().double().cpu()  # (T', V)
    k = min(token_topk or beam_size, lp.size(1))
    # prefix -> [p_b, p_nb, frames]
    beams: dict[tuple[int, ...], list] = {(): [0.0, _NEG_INF, ()]}
    for t in range(lp.size(0)):
        row = lp[t]
        cand = set(row.topk(k).indices.tolist()) | {blank}
        nxt: dict[tuple[int, ...], list] = {}

        def add(prefix: tuple[int, ...], pb: float, pnb: float, frames: tuple[int, ...]) -> None:
            entry = nxt.get(prefix)
            if entry is None:
                nxt[prefix] = [pb, pnb, frames]
            else:
                entry[0] = _lse(entry[0], pb)
                entry[1] = _lse(entry[1], pnb)

        for prefix, (pb, pnb, frames) in beams.items():
            total = _lse(pb, pnb)
            last = prefix[-1] if prefix else None
            for c in cand:
                p = float(row[c])
                if c == blank:
                    add(prefix, total + p, _NEG_INF, frames)
                elif c == last:
                    add(prefix, _NEG_INF, pnb + p, frames)  # same label continues
                    add(prefix + (c,), _NEG_INF, pb + p, frames + (t,))  # blank separated: new c
                else:
                    add(prefix + (c,), _NEG_INF, total + p, frames + (t,))
        ranked = sorted(nxt.items(), key=lambda kv: _lse(kv[1][0], kv[1][1]), reverse=True)
        beams = dict(ranked[:beam_size])
    ranked = sorted(beams.items(), key=lambda kv: _lse(kv[1][0], kv[1][1]), reverse=True)
    hyps = []
    for prefix, (pb, pnb, frames) in ranked:
        # <sos/eos> is a label to CTC but never an output token: drop it with its frame.
        keep = [i for i, tok in enumerate(prefix) if tok not in SPECIAL_IDS]
        hyps.append(Hypothesis([prefix[i] for i in keep], _lse(pb, pnb), [frames[i] for i in keep]))
    return hyps
