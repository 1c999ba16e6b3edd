"""Recordings of many minutes: stream, find speech with the VAD, decode the segments in batches.

The encoder's self-attention costs O(T'^2), so a whole hour cannot be one input. A
file longer than the per-segment limit (``serve.max_audio_seconds``) is transcribed in
two streaming passes over the file, each holding one block of samples at a time:

1. read (WAV block by block, other formats through ffmpeg's pipe), resample block by
   block (:class:`~src.data.audio.StreamResampler`) and keep only one energy value per
   10 ms frame (:class:`~src.data.vad.FrameEnergy`); the VAD turns those into segments
   of at most ``vad.max_segment_seconds``;
2. read again; as each segment's samples complete, compute its fbank (+ CMVN), and
   decode ``vad.batch_size`` segments at a time.

Memory is one block + one batch of segments + one float per frame of energy, so it is
flat in the recording's length (docs/AUDIO.md has the measured peak RSS). Timestamps
are offset by each segment's start, so they refer to the whole file. Each segment's
Fbank starts at the segment's first sample, exactly as if the segment were its own file.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from src.data.audio import StreamResampler
from src.data.audio_backends import open_stream
from src.data.bpe import MIN_VOCAB_SIZE
from src.data.vad import FrameEnergy, detect_segments
from src.training.transcribe import AudioTranscriber, Transcript, header_seconds
from src.utils.config import VADConfig

BLOCK_SECONDS = 10.0  # samples read per block (at the file's rate)


def _resampled_blocks(path: Path, target_sr: int) -> Iterator[torch.Tensor]:
    sr, blocks = open_stream(path, int(BLOCK_SECONDS * 16000))
    resampler = StreamResampler(sr, target_sr)
    for block in blocks:
        out = resampler.push(block)
        if out.numel():
            yield out
    tail = resampler.flush()
    if tail.numel():
        yield tail


def word_separator(tokenizer: Any) -> str:
    """" " between segments when the vocabulary has a word space (English), "" otherwise (Mandarin chars)."""
    if hasattr(tokenizer, "chars"):
        return " " if " " in tokenizer.chars else ""
    return " " if any(t.startswith(b" ") for t in getattr(tokenizer, "token_bytes", [])[MIN_VOCAB_SIZE:]) else ""


class LongFormTranscriber:
    """Files up to ``max_audio_seconds`` go to the :class:`AudioTranscriber` whole; longer ones are segmented."""

    def __init__(self, transcriber: AudioTranscriber, vad: VADConfig) -> None:
        limit = transcriber.max_audio_seconds
        if 0 < limit < vad.max_segment_seconds:  # segments obey the per-segment limit
            vad = dataclasses.replace(vad, max_segment_seconds=limit)
        self.t = transcriber
        self.vad = vad
        self.sr = transcriber.cfg.features.sample_rate
        self.separator = word_separator(transcriber.tokenizer)

    def is_long(self, path: Path) -> bool:
        seconds = header_seconds(path)
        return seconds is not None and self.t.max_audio_seconds > 0 and seconds > self.t.max_audio_seconds

    def __call__(self, path: Path, reference: str | None = None) -> Transcript:
        if not self.is_long(path):
            return self.t(path, reference)
        return self.transcribe_long(path, reference)

    @torch.inference_mode()
    def transcribe_long(self, path: Path, reference: str | None = None) -> Transcript:
        start_time = time.perf_counter()
        frame = int(round(self.sr * self.vad.frame_ms / 1000.0))
        energy = FrameEnergy(frame)
        for block in _resampled_blocks(path, self.sr):  # pass 1: energies only
            energy.update(block)
        num_samples = energy.num_samples
        spans = [(s.start * frame, min(num_samples, s.end * frame)) for s in detect_segments(energy.finish(), self.vad)]
        results = self.decode_spans(_resampled_blocks(path, self.sr), spans)  # pass 2
        return self.combine(str(path), results, num_samples / self.sr, time.perf_counter() - start_time, reference)

    def decode_spans(self, blocks: Iterator[torch.Tensor], spans: list[tuple[int, int]]) -> list[dict[str, Any]]:
        """Cut ``spans`` ([start, end) samples, sorted) out of the block stream and decode them in batches."""
        results: list[dict[str, Any]] = []
        pending: list[tuple[tuple[int, int], torch.Tensor]] = []
        pieces: list[torch.Tensor] = []
        pos, i = 0, 0  # samples consumed; index of the segment being collected
        for block in blocks:
            b_end = pos + block.numel()
            while i < len(spans) and spans[i][0] < b_end:
                s, e = spans[i]
                pieces.append(block[max(s, pos) - pos : min(e, b_end) - pos])
                if e > b_end:
                    break  # the segment continues in the next block
                pending.append((spans[i], torch.cat(pieces)))
                pieces, i = [], i + 1
                if len(pending) == self.vad.batch_size:
                    results += self._decode_batch(pending)
                    pending = []
            pos = b_end
        if pieces and i < len(spans):  # the file ended inside the last segment
            pending.append((spans[i], torch.cat(pieces)))
        if pending:
            results += self._decode_batch(pending)
        return results

    def _decode_batch(self, batch: list[tuple[tuple[int, int], torch.Tensor]]) -> list[dict[str, Any]]:
        feats, kept = [], []
        for span, wave in batch:
            f = self.t.fbank(wave, training=False).to(torch.float32)  # (T, F)
            if f.shape[0] < self.t.min_frames:
                continue  # a sliver at the end of the file: nothing to decode
            feats.append(self.t.cmvn.apply(f) if self.t.cmvn is not None else f)
            kept.append(span)
        if not feats:
            return []
        lens = torch.tensor([f.shape[0] for f in feats])  # (B,)
        x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)  # (B, T, F)
        hyps = self.t.model.decode(x.to(self.t.device), lens.to(self.t.device), **self.t.decode_opts)
        out = []
        for (s, e), hyp in zip(kept, hyps):
            ids = [int(t) for t in hyp.tokens]
            offset = s / self.sr
            stamps = None if hyp.token_frames is None else [
                round(offset + int(f) * self.t.seconds_per_frame, 4) for f in hyp.token_frames]
            out.append({"start": round(offset, 3), "end": round(e / self.sr, 3), "ids": ids, "timestamps": stamps,
                        "text": self.t.tokenizer.decode(ids)})
        return out

    def combine(self, name: str, results: list[dict[str, Any]], duration: float, seconds: float,
                reference: str | None) -> Transcript:
        """One transcript: segment texts joined by the word separator (also a token, stamped at the next segment)."""
        tokens: list[str] = []
        stamps: list[float] | None = [] if all(r["timestamps"] is not None for r in results) else None
        texts = []
        for r in results:
            if not r["text"]:
                continue
            if texts and self.separator:
                tokens.append(self.separator)
                if stamps is not None:
                    stamps.append(r["start"])
            texts.append(r["text"])
            tokens += [self.t.tokenizer.id_to_token[i] for i in r["ids"]]
            if stamps is not None:
                stamps += r["timestamps"]
        segments = [{"start": r["start"], "end": r["end"], "text": r["text"]} for r in results]
        return Transcript(audio_filepath=name, text=self.separator.join(texts), tokens=tokens, timestamps=stamps,
                          duration=duration, seconds=seconds, reference=reference, extra={"segments": segments})
