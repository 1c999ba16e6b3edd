"""The decode methods every model accepts, and decoding from a CTC head.

``greedy`` and ``beam`` use each model's own output layer: the CTC head of the CTC model,
the NAR decoder of the Paraformer, the autoregressive decoder of the AR model.
``ctc_greedy`` and ``ctc_beam`` read the CTC head alone (best path; prefix beam search),
as WeNet's ``ctc_greedy_search`` / ``ctc_prefix_beam_search`` modes do. A Paraformer or
AR model trained with ``model.ctc_weight > 0`` has that head, and on small data it can be
the better recogniser (docs/ABLATIONS.md, "Decoding with the CTC branch"); for the CTC
model they are the same as ``greedy`` and ``beam``.
"""

from __future__ import annotations

import torch
from torch import nn

from src.decode.ctc_prefix_beam import ctc_prefix_beam_search
from src.decode.greedy import ctc_greedy_search
from src.decode.hypothesis import Hypothesis

DECODE_METHODS = ("greedy", "beam", "ctc_greedy", "ctc_beam")
GREEDY_METHODS = ("greedy", "ctc_greedy")  # one pass: the beam width plays no part
CTC_METHODS = ("ctc_greedy", "ctc_beam")


def check_decode_method(model: nn.Module, method: str) -> None:
    """Raise ValueError naming the fix when ``model`` cannot decode with ``method``."""
    if method not in DECODE_METHODS:
        raise ValueError(f"decode method {method!r} is unknown; use one of {', '.join(DECODE_METHODS)}")
    if method in CTC_METHODS and getattr(model, "ctc_head", None) is None:
        raise ValueError(
            f"decode method {method!r} reads the CTC head, and this model has none: it was trained with "
            "model.ctc_weight: 0. Use 'greedy' or 'beam', or train with model.ctc_weight > 0"
        )


def ctc_head_decode(log_probs: torch.Tensor, lengths: torch.Tensor, method: str, beam_size: int) -> list[Hypothesis]:
    """log_probs (B, T', V) of a CTC head, lengths (B,) -> one hypothesis per row.

    ``ctc_greedy``: the best path; ``ctc_beam``: the top labelling of a prefix beam search.
    """
    if method == "ctc_greedy":
        return ctc_greedy_search(log_probs, lengths)
    assert method == "ctc_beam", f"ctc_head_decode takes 'ctc_greedy' or 'ctc_beam', not {method!r}"
    return [ctc_prefix_beam_search(log_probs[b, : int(lengths[b])], beam_size=beam_size)[0] for b in range(log_probs.size(0))]
