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

Shallow fusion with a token LM (src/decode/ngram_lm.py; Hannun et al. 2014, eq. 3): each
prefix y also carries ``lm_weight * log P_LM(y) + lm_bonus * |y|``, added when a label is
appended (``log P_LM(c | y)``; the bonus offsets the LM's per-token cost, which would
otherwise favour short outputs), and the beam ranks by p_b + p_nb plus that score. At the
end every prefix also pays ``lm_weight * log P_LM(</s> | y)``. p_b and p_nb stay pure CTC.
"""

from __future__ import annotations

import math

import torch

from src.decode.hypothesis import BLANK_ID, SPECIAL_IDS, Hypothesis
from src.decode.ngram_lm import NgramLM

_NEG_INF = -math.inf


def _lse(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m))


def ctc_prefix_beam_search(
    log_probs: torch.Tensor,
    *,
    beam_size: int = 4,
    blank: int = BLANK_ID,
    token_topk: int | None = None,
    lm: NgramLM | None = None,
    lm_weight: float = 0.5,
    lm_bonus: float = 1.0,
) -> list[Hypothesis]:
    """n-best labellings for one utterance.

    Args:
        log_probs: (T', V) log-softmax outputs of the valid frames.
        beam_size: prefixes kept per frame (also the size of the returned n-best).
        token_topk: extend only with each frame's k most likely labels (default beam_size).
        lm, lm_weight, lm_bonus: shallow fusion (above); ``lm=None`` is the plain search.
    Returns:
        Up to ``beam_size`` hypotheses, best first; score = log p(labelling | x) summed over
        its paths, plus the fused LM score and </s> when ``lm`` is given; token_frames = frame
        where each token was first emitted on the path that created it.
    """
    lp = log_probs.detach().double().cpu()  # (T', V)
    k = min(token_topk or beam_size, lp.size(1))

    def lm_step(prefix: tuple[int, ...], c: int) -> float:
        """The fused score of appending c to prefix (0 without an LM; specials are not text)."""
        if lm is None or c in SPECIAL_IDS:
            return 0.0
        return lm_weight * lm.logprob([t for t in prefix if t not in SPECIAL_IDS], c) + lm_bonus

    # prefix -> [p_b, p_nb, frames, fused LM score of the prefix]
    beams: dict[tuple[int, ...], list] = {(): [0.0, _NEG_INF, (), 0.0]}
    for t in range(lp.size(0)):
        row = lp[t]
        cand = set(row.topk(k).indices.tolist()) | {blank}
        nxt: dict[tuple[int, ...], list] = {}

        def add(prefix: tuple[int, ...], pb: float, pnb: float, frames: tuple[int, ...], lm_score: float) -> None:
            entry = nxt.get(prefix)
            if entry is None:
                nxt[prefix] = [pb, pnb, frames, lm_score]
            else:  # the same prefix reached another way: its LM score is the same
                entry[0] = _lse(entry[0], pb)
                entry[1] = _lse(entry[1], pnb)

        for prefix, (pb, pnb, frames, lm_score) in beams.items():
            total = _lse(pb, pnb)
            last = prefix[-1] if prefix else None
            for c in cand:
                p = float(row[c])
                if c == blank:
                    add(prefix, total + p, _NEG_INF, frames, lm_score)
                elif c == last:
                    add(prefix, _NEG_INF, pnb + p, frames, lm_score)  # same label continues
                    add(prefix + (c,), _NEG_INF, pb + p, frames + (t,), lm_score + lm_step(prefix, c))  # blank separated: new c
                else:
                    add(prefix + (c,), _NEG_INF, total + p, frames + (t,), lm_score + lm_step(prefix, c))
        # A prefix no path can spell yet (a doubled label with no frame for the blank between) has
        # p_b = p_nb = 0; it is dropped, not kept at log 0 = -inf.
        live = [kv for kv in nxt.items() if _lse(kv[1][0], kv[1][1]) > _NEG_INF]
        ranked = sorted(live, key=lambda kv: _lse(kv[1][0], kv[1][1]) + kv[1][3], reverse=True)
        beams = dict(ranked[:beam_size])

    def final_score(prefix: tuple[int, ...], entry: list) -> float:
        score = _lse(entry[0], entry[1]) + entry[3]
        if lm is not None:
            score += lm_weight * lm.logprob([t for t in prefix if t not in SPECIAL_IDS], lm.eos)
        return score

    ranked = sorted(((final_score(p, e), p, e) for p, e in beams.items()), key=lambda x: x[0], reverse=True)
    hyps = []
    for score, prefix, (_, _, frames, _) in ranked:
        # <sos/eos> is a label to CTC but never an output token: drop it with its frame.
        keep = [i for i, tok in enumerate(prefix) if tok not in SPECIAL_IDS]
        hyps.append(Hypothesis([prefix[i] for i in keep], score, [frames[i] for i in keep]))
    return hyps
