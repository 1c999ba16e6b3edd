"""The decode methods every model accepts, and decoding from a CTC head.

``greedy`` and ``beam`` use each model's own output layer: the CTC head of the CTC model,
the NAR decoder of the Paraformer, the autoregressive decoder of the AR model.
``ctc_greedy`` and ``ctc_beam`` read the CTC head alone (best path; prefix beam search),
as WeNet's ``ctc_greedy_search`` / ``ctc_prefix_beam_search`` modes do. A Paraformer or
AR model trained with ``model.ctc_weight > 0`` has that head, and on small data it can be
the better recogniser (docs/ABLATIONS.md, "Decoding with the CTC branch"); for the CTC
model they are the same as ``greedy`` and ``beam``.

A token LM (``decode.lm_path``, src/decode/ngram_lm.py) is fused into the CTC prefix beam
search, so it works with ``ctc_beam``, and with ``beam`` of the CTC model; any other method
with an LM is an error rather than an LM quietly left unused.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from src.decode.ctc_prefix_beam import ctc_prefix_beam_search
from src.decode.greedy import ctc_greedy_search
from src.decode.hypothesis import Hypothesis
from src.decode.ngram_lm import NgramLM
from src.utils.config import DecodeConfig

DECODE_METHODS = ("greedy", "beam", "ctc_greedy", "ctc_beam")
GREEDY_METHODS = ("greedy", "ctc_greedy")  # one pass: the beam width plays no part
CTC_METHODS = ("ctc_greedy", "ctc_beam")


def runs_ctc_beam(model: nn.Module, method: str) -> bool:
    """True if ``method`` decodes ``model`` with the CTC prefix beam search (where an LM is fused)."""
    return method == "ctc_beam" or (method == "beam" and getattr(model, "beam_is_ctc_prefix_search", False))


def check_decode_method(model: nn.Module, method: str, *, lm: NgramLM | None = None) -> None:
    """Raise ValueError naming the fix when ``model`` cannot decode with ``method`` (and ``lm``)."""
    if method not in DECODE_METHODS:
        raise ValueError(f"decode method {method!r} is unknown; use one of {', '.join(DECODE_METHODS)}")
    if method in CTC_METHODS and getattr(model, "ctc_head", None) is None:
        raise ValueError(
            f"decode method {method!r} reads the CTC head, and this model has none: it was trained with "
            "model.ctc_weight: 0. Use 'greedy' or 'beam', or train with model.ctc_weight > 0"
        )
    if lm is not None and not runs_ctc_beam(model, method):
        raise ValueError(
            f"an LM (decode.lm_path) is fused into the CTC prefix beam search only, and decode method {method!r} "
            f"of this {type(model).__name__} does not run it: use decode method 'ctc_beam', or no LM"
        )


def ctc_head_log_probs(model: nn.Module, feats: torch.Tensor, feat_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """feats (B, T, F), feat_lens (B,) -> the CTC head's log-probs (B, T'', V) in fp32, and T'' (B,).

    T'' = U T' for the CTC model's ``model.ctc_upsample`` U (U CTC frames per encoder frame), else T'.
    """
    enc, enc_lens = model.encoder(feats, feat_lens, ctc_head=model.ctc_head)  # (B, T', D)
    upsample = getattr(model, "ctc_upsample", 1)  # CTC frames per encoder frame (src/models/ctc_model.py)
    return torch.log_softmax(model.ctc_head(enc).float(), dim=-1), enc_lens * upsample


def ctc_head_decode(log_probs: torch.Tensor, lengths: torch.Tensor, method: str, beam_size: int, **opts: Any) -> list[Hypothesis]:
    """log_probs (B, T', V) of a CTC head, lengths (B,) -> one hypothesis per row.

    ``ctc_greedy``: the best path; ``ctc_beam``: the top labelling of a prefix beam search,
    with ``opts["lm"]`` (an NgramLM) fused at ``lm_weight`` / ``lm_bonus`` when given.
    """
    if method == "ctc_greedy":
        return ctc_greedy_search(log_probs, lengths)
    assert method == "ctc_beam", f"ctc_head_decode takes 'ctc_greedy' or 'ctc_beam', not {method!r}"
    defaults = DecodeConfig()
    fusion = {
        "lm": opts.get("lm"),
        "lm_weight": float(opts.get("lm_weight", defaults.lm_weight)),
        "lm_bonus": float(opts.get("lm_bonus", defaults.lm_bonus)),
    }
    return [ctc_prefix_beam_search(log_probs[b, : int(lengths[b])], beam_size=beam_size, **fusion)[0] for b in range(log_probs.size(0))]
