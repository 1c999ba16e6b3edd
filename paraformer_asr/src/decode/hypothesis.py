"""The decoding result every model's ``decode`` returns, one per utterance."""

from __future__ import annotations

from dataclasses import dataclass

BLANK_ID = 0  # also the padding value of token tensors
SOS_EOS_ID = 1
UNK_ID = 2
SPECIAL_IDS = (BLANK_ID, SOS_EOS_ID)  # never appear in Hypothesis.tokens (<unk> may: it is a real output)


@dataclass
class Hypothesis:
    tokens: list[int]  # token ids without blank/sos/eos
    score: float  # log-domain score the search maximised (see each search for its definition)
    token_frames: list[int] | None = None  # encoder frame (CTC frame with model.ctc_upsample) per token; seconds: src.models.seconds_per_frame
