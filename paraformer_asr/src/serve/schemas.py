"""Request and response bodies of the transcription service.

Every field carries a description, so FastAPI's OpenAPI page (``/docs``) documents
the whole API. ``features`` is declared as ``Any`` with a hand-written JSON schema:
pydantic would check 480k floats one by one and return one error per bad value,
while :func:`src.serve.validation.parse_features` checks the whole matrix at once
and returns a single message that names the first bad value and the expected shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

DecodeMethod = Literal["greedy", "beam", "ctc_greedy", "ctc_beam"]  # src/decode/methods.py

_FEATURES_SCHEMA = {
    "type": "array",
    "items": {"type": "array", "items": {"type": "number"}},
    "description": "Frames (T, F): a list of T frames, each a list of F finite numbers (F = /health's feature_dim).",
    "example": [[0.0] * 4, [0.1] * 4],
}


class TranscribeRequest(BaseModel):
    """JSON body of ``POST /transcribe``."""

    model_config = ConfigDict(extra="forbid")

    features: Annotated[Any, WithJsonSchema(_FEATURES_SCHEMA)] = Field(
        ...,
        description=(
            "Feature matrix (T, F): T frames of F numbers each, e.g. 80 log-mel bins per 10 ms frame. "
            "F must equal the model's feature_dim (see GET /health); T must be between 1 and max_frames."
        ),
    )
    decode_method: DecodeMethod | None = Field(
        None,
        description=(
            "'greedy' (one pass) or 'beam' (beam search) of the model's own decoder; 'ctc_greedy' or 'ctc_beam' "
            "read its CTC head alone (models trained with model.ctc_weight > 0). Default: the checkpoint's decode.method."
        ),
    )
    beam_size: int | None = Field(
        None,
        ge=1,
        description="Beam width for decode_method='beam' or 'ctc_beam' (1..max_beam_size). Default: the checkpoint's decode.beam_size.",
    )


class Segment(BaseModel):
    """One VAD segment of a long recording."""

    start: float = Field(..., description="Seconds from the start of the file.")
    end: float = Field(..., description="Seconds from the start of the file (exclusive).")
    text: str = Field(..., description="The segment's transcript.")


class TranscribeResponse(BaseModel):
    """Result of ``POST /transcribe`` and ``POST /transcribe/audio``."""

    text: str = Field(..., description="The transcript.")
    tokens: list[str] = Field(..., description="One entry per output token (a character), in order; ''.join(tokens) == text.")
    token_ids: list[int] = Field(..., description="Vocabulary ids of the output tokens, aligned with `tokens`.")
    timestamps: list[float] | None = Field(
        ...,
        description=(
            "Start time in seconds of each token (aligned with `tokens`), from the CIF fire positions or the "
            "CTC spikes: frame * subsampling * frame_shift_ms / 1000 (divided by model.ctc_upsample for an upsampled "
            "CTC head). null for models without an alignment."
        ),
    )
    num_frames: int = Field(..., description="T, the number of input feature frames the model saw.")
    latency_ms: float = Field(..., description="Server-side time from receiving the request to the answer, queueing included.")
    decode_method: DecodeMethod = Field(..., description="The decode method actually used.")
    beam_size: int | None = Field(..., description="The beam width used (null for greedy).")
    segments: list[Segment] | None = Field(
        None,
        description="Audio longer than max_audio_seconds: the VAD segments decoded one by one (timestamps are "
        "already offset to the whole file); null for shorter audio, decoded whole.",
    )


class HealthResponse(BaseModel):
    """Result of ``GET /health``."""

    status: Literal["ok"] = Field(..., description="'ok' while the server accepts requests.")
    model_name: str = Field(..., description="model.name of the checkpoint: paraformer, ctc or transformer_ar.")
    device: str = Field(..., description="Torch device the model runs on, e.g. 'cpu' or 'cuda:0'.")
    vocab_size: int = Field(..., description="V, including the specials <blank>, <sos/eos> and <unk>.")
    feature_dim: int = Field(..., description="F: every frame sent to POST /transcribe must have this many values.")
    audio_supported: bool = Field(
        ...,
        description="True if the model was trained on fbank features of real audio, so POST /transcribe/audio works.",
    )
    sample_rate: int = Field(..., description="WAV uploads are resampled to this rate before the fbank.")
    min_frames: int = Field(..., description="Smallest T accepted (the subsampling front end needs this many frames); shorter inputs get 422.")
    max_frames: int = Field(..., description="Largest T accepted; longer inputs get 413.")
    max_body_bytes: int = Field(..., description="Largest request body accepted; larger ones get 413.")
    max_audio_seconds: float = Field(..., description="Longest audio decoded whole; longer WAVs are split into VAD segments of at most this length (serve.long_audio), or get 413 when that is off.")
    max_beam_size: int = Field(..., description="Largest beam_size accepted.")
    max_pending: int = Field(..., description="Most requests queued or decoding at once; more get 503 with Retry-After.")
    batching: bool = Field(..., description="Whether concurrent requests are decoded together (dynamic batching).")
    batch_window_ms: float = Field(..., description="How long the batcher waits to collect requests into one batch.")
    max_batch_size: int = Field(..., description="Most requests decoded in one forward pass.")
    batch_overhead_frames: int = Field(
        ..., description="Collected requests are split into length-sorted sub-batches when padding would cost more frames than this."
    )


class ErrorResponse(BaseModel):
    """Body of every 4xx/5xx answer."""

    detail: str = Field(..., description="What is wrong with the request and what was expected.")
