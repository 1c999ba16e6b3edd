"""``POST /transcribe/audio`` for recordings longer than ``serve.max_audio_seconds``.

The 60 s cap is per segment: a longer upload is split by the energy VAD
(src/data/vad.py, ``vad.*`` of the checkpoint's config, segments capped at
``serve.max_audio_seconds``), and every segment is submitted to the dynamic batcher
at once, so the segments of one recording are decoded together (and with other
clients' requests). Timestamps are offset by each segment's start; the response adds
``segments`` with each one's start, end and text.

Memory: the upload and its samples are held once (the body is capped by
``serve.max_body_bytes``: the default 10 MB is 5.2 minutes of 16 kHz 16-bit mono
WAV); the encoder only ever sees one segment per batch row.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import torch

from src.data.vad import speech_segments
from src.serve.audio_input import AudioFrontEnd
from src.utils.config import VADConfig


async def transcribe_long(
    wave: torch.Tensor,
    name: str,
    *,
    front_end: AudioFrontEnd,
    vad: VADConfig,
    submit: Callable[[torch.Tensor], Awaitable[Any]],
    tokenizer: Any,
    seconds_per_frame: float,
    separator: str,
) -> dict[str, Any]:
    """The TranscribeResponse fields (text, tokens, token_ids, timestamps, num_frames, segments) of a long recording."""
    sr = front_end.cfg.sample_rate
    vad = dataclasses.replace(vad, max_segment_seconds=min(vad.max_segment_seconds, front_end.max_audio_seconds))
    spans = await asyncio.to_thread(speech_segments, wave, sr, vad)
    feats, kept = [], []
    for s, e in spans:
        f = await asyncio.to_thread(front_end.fbank, wave[s:e], training=False)  # (T, F)
        if f.shape[0] < front_end.min_frames:
            continue  # a sliver too short for the model
        feats.append((front_end.cmvn.apply(f) if front_end.cmvn is not None else f).float())
        kept.append((s, e))
    hyps = await asyncio.gather(*(submit(f) for f in feats))
    text_parts, tokens, ids_out, stamps, segments = [], [], [], [], []
    timestamps_ok = all(h.token_frames is not None for h in hyps)
    sep_ids = tokenizer.encode(separator) if separator else []
    for (s, e), hyp in zip(kept, hyps):
        ids = [int(i) for i in hyp.tokens]
        text = tokenizer.decode(ids)
        offset = s / sr
        segments.append({"start": round(offset, 3), "end": round(e / sr, 3), "text": text})
        if not text:
            continue
        if text_parts and sep_ids:
            ids_out += sep_ids
            tokens += [tokenizer.id_to_token[i] for i in sep_ids]
            stamps += [round(offset, 4)] * len(sep_ids)
        text_parts.append(text)
        ids_out += ids
        tokens += [tokenizer.id_to_token[i] for i in ids]
        if timestamps_ok:
            stamps += [round(offset + int(f) * seconds_per_frame, 4) for f in hyp.token_frames]
    return {"text": separator.join(text_parts), "tokens": tokens, "token_ids": ids_out,
            "timestamps": stamps if timestamps_ok else None, "num_frames": sum(int(f.shape[0]) for f in feats),
            "segments": segments}
