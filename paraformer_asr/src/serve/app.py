"""FastAPI transcription service: ``create_app(model, tokenizer, cfg, device)``.

Endpoints (docs/SERVICE.md has examples; ``/docs`` has the schemas):

- ``GET /health``: model, device, vocabulary, feature dim, limits.
- ``POST /transcribe``: JSON features (T, F).
- ``POST /transcribe/audio``: a WAV file (multipart ``file`` or a raw ``audio/wav`` body).

The factory takes an already-built model, so tests need no checkpoint file;
``scripts/serve.py`` loads the checkpoint once and passes the pieces in. Every
request's decoding goes through one :class:`DynamicBatcher`, whose worker thread
is the only place the model runs, so the event loop never waits on the model.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import torch
from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from src.data.batching import feature_dim
from src.data.cmvn import GlobalCMVN
from src.data.tokenizer import CharTokenizer
from src.decode.methods import GREEDY_METHODS, check_decode_method, runs_ctc_beam
from src.decode.vtln import VTLNSearch
from src.models import seconds_per_frame
from src.models.subsampling import min_input_frames
from src.serve.audio_input import AudioFrontEnd
from src.serve.batcher import DynamicBatcher, Overloaded, ShuttingDown
from src.serve.fast_json import FastJSONRoute
from src.serve.long_audio import transcribe_long
from src.serve.middleware import AccessLogMiddleware, BodyLimitMiddleware
from src.serve.schemas import DecodeMethod, ErrorResponse, HealthResponse, TranscribeRequest, TranscribeResponse
from src.serve.validation import InputError, check_beam_size, parse_features
from src.training.evaluate import decode_options
from src.training.long_form import word_separator
from src.utils.amp import AmpChoice
from src.utils.config import ExperimentConfig, ServeConfig

log = logging.getLogger("paraformer_asr.serve")

_START_KEY = "asr.start_time"  # set per request by the timing middleware below
_WAV_TYPES = ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "application/octet-stream",
              "audio/flac", "audio/x-flac", "audio/mpeg", "audio/mp3", "audio/ogg")  # compressed: via ffmpeg
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in [
        (413, "Input over a limit (frames, body bytes or audio seconds); the message names the limit."),
        (422, "Invalid input; the message says what is wrong and what was expected."),
        (503, "The server is at capacity (serve.max_pending requests in; retry after Retry-After seconds) or shutting down."),
    ]
}
_AUDIO_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary", "description": "A PCM WAV file."}},
                "required": ["file"],
            }
        },
        "audio/wav": {"schema": {"type": "string", "format": "binary", "description": "The WAV file's bytes."}},
    },
}


def audio_supported(cfg: ExperimentConfig, cmvn: GlobalCMVN | None) -> bool:
    """True if the model was trained on fbank features (a manifest of WAVs), not on toy vectors."""
    return cfg.data.dataset == "manifest" or cmvn is not None


def check_serve_config(scfg: ServeConfig) -> None:
    """Fail at start-up, naming the setting, rather than on the first request."""
    positive = ("max_frames", "max_body_bytes", "max_audio_seconds", "max_batch_size", "max_beam_size", "max_pending")
    for name in positive:
        if getattr(scfg, name) <= 0:
            raise ValueError(f"serve.{name}={getattr(scfg, name)} must be > 0 (--{name.replace('_', '-')})")
    for name in ("batch_window_ms", "batch_overhead_frames", "torch_threads"):
        if getattr(scfg, name) < 0:
            raise ValueError(f"serve.{name}={getattr(scfg, name)} must be >= 0 (--{name.replace('_', '-')})")


def create_app(
    model: torch.nn.Module,
    tokenizer: CharTokenizer,
    cfg: ExperimentConfig,
    device: str | torch.device,
    *,
    cmvn: GlobalCMVN | None = None,
    serve_cfg: ServeConfig | None = None,
    amp: AmpChoice | None = None,
    vtln: VTLNSearch | None = None,
) -> FastAPI:
    """The service for ``model`` (already on ``device``, eval mode).

    Args:
        cmvn: the checkpoint's CMVN statistics, applied to fbank features of uploaded audio.
        serve_cfg: limits and batching; defaults to ``cfg.serve``.
        amp: autocast precision of the decoding (``scripts/serve.py --amp``); None = fp32.
        vtln: test-time VTLN for every request (``scripts/serve.py --vtln-warps``; CTC model).
    """
    amp = amp or AmpChoice(None, torch.device(device).type, "amp not requested")
    scfg = serve_cfg or cfg.serve
    check_serve_config(scfg)
    device = torch.device(device)
    feat_dim = feature_dim(cfg)
    has_audio = audio_supported(cfg, cmvn)
    # Shorter inputs leave no frames after the conv front end; refuse them up front (422)
    # rather than let the model's assertion turn them into a 500.
    min_frames = min_input_frames(model.subsampling)
    front_end = (
        AudioFrontEnd(
            cfg.features, cmvn, max_audio_seconds=scfg.max_audio_seconds, max_frames=scfg.max_frames, min_frames=min_frames
        )
        if has_audio
        else None
    )
    if has_audio and cfg.features.apply_cmvn and cmvn is None:
        log.warning(
            "features.apply_cmvn is true but the checkpoint has no 'cmvn' statistics: uploaded audio will not be "
            "normalised as in training and transcripts will be poor; store cmvn.to_dict() under 'cmvn' in the checkpoint"
        )
    frame_seconds = seconds_per_frame(model, cfg.features.frame_shift_ms)  # one frame of Hypothesis.token_frames
    model.eval()

    if cfg.decode.lm_path:  # load and check it now: a bad LM file stops the start, not a request
        if getattr(model, "ctc_head", None) is None:
            raise ValueError("decode.lm_path: an LM is fused into the CTC prefix beam search, and this model has no CTC head")
        lm = decode_options(cfg, "ctc_beam", 1, tokenizer)["lm"]
        log.info("decode.lm_path %s (order %d, weight %g, bonus %g): fused into ctc_beam requests%s", cfg.decode.lm_path,
                 lm.order, cfg.decode.lm_weight, cfg.decode.lm_bonus, " and beam" if runs_ctc_beam(model, "beam") else "")

    if vtln is not None:
        log.info("test-time VTLN: every request is decoded under its best of the warp factors %s", list(vtln.warps))

    def decode_batch(feats: torch.Tensor, lens: torch.Tensor, method: str, beam_size: int) -> Sequence[Any]:
        # The checkpoint's other decode.* knobs (ctc_weight, length_penalty, ...) as in eval/infer. The
        # server's LM (decode.lm_path) serves the methods that run the CTC prefix beam search.
        opts = decode_options(cfg, method, beam_size, tokenizer)
        if not runs_ctc_beam(model, method):
            opts.pop("lm", None)
        if vtln is not None:
            opts["vtln"] = vtln
        # Runs in the batcher's worker thread; inference_mode is thread-local, so it is entered here.
        # autocast is thread-local too; fbank of uploads runs elsewhere, in float64 anyway.
        with torch.inference_mode(), amp.autocast():
            return model.decode(feats.to(device), lens.to(device), **opts)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if scfg.torch_threads > 0:
            torch.set_num_threads(scfg.torch_threads)  # process-wide: fixed so replicas do not oversubscribe cores
        batched = scfg.batching and scfg.max_batch_size > 1
        batcher = DynamicBatcher(
            decode_batch,
            window_ms=scfg.batch_window_ms if batched else 0.0,
            max_batch_size=scfg.max_batch_size if batched else 1,
            overhead_frames=scfg.batch_overhead_frames,
            # A batch never pads to more frames than one maximal request: memory stays bounded.
            max_padded_frames=scfg.max_frames,
            max_pending=scfg.max_pending,
        )
        batcher.start()
        app.state.batcher = batcher
        log.info(
            "serving %s on %s (amp=%s): F=%d, V=%d, audio=%s, batching=%s (window %.1f ms, max %d), torch threads=%d",
            cfg.model.name, device, amp.describe(), feat_dim, tokenizer.vocab_size, has_audio, batched,
            scfg.batch_window_ms, scfg.max_batch_size, torch.get_num_threads(),
        )  # fmt: skip
        try:
            yield
        finally:
            # uvicorn runs this after in-flight requests have finished (SIGTERM or Ctrl-C);
            # stop() still decodes anything left in the queue before returning.
            await batcher.stop()
            log.info("batcher drained after %d batches; shut down", len(batcher.batch_sizes))

    app = FastAPI(
        title="paraformer_asr transcription service",
        description="Speech recognition with a from-scratch Paraformer / CTC / AR model. See docs/SERVICE.md.",
        lifespan=lifespan,
    )
    app.state.serve_cfg = scfg
    # JSON bodies (tens to hundreds of KB of floats) parsed by pydantic-core, ~7x faster
    # than the stdlib's json.loads and with the same result (src/serve/fast_json.py).
    app.router.route_class = FastJSONRoute
    # Outermost first: time and log every request, including the ones the body limit refuses.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=scfg.max_body_bytes)
    app.add_middleware(AccessLogMiddleware, start_key=_START_KEY)

    expected_json = (
        f'expected a JSON object like {{"features": [[f1, ..., f{feat_dim}], ...], '
        f'"decode_method": "greedy" | "beam" | "ctc_greedy" | "ctc_beam", "beam_size": k}} with F={feat_dim} values per frame'
    )

    @app.exception_handler(RequestValidationError)
    async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default 422 is a list of pydantic records; turn it into one sentence.
        parts = []
        for err in exc.errors()[:3]:
            loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
            if err.get("type") == "json_invalid":
                parts.append(f"the body is not valid JSON ({err.get('ctx', {}).get('error', 'decode error')} at character {loc})")
                continue
            got = repr(err.get("input"))
            got = got if len(got) <= 60 else got[:57] + "..."
            parts.append(f"{loc}: {err.get('msg')} (got {got})" if err.get("type") != "missing" else f"{loc}: field required")
        hint = expected_json if request.url.path == "/transcribe" else "see /docs for the expected parameters"
        return JSONResponse(status_code=422, content={"detail": f"{'; '.join(parts)}; {hint}"})

    @app.exception_handler(InputError)
    async def _on_input_error(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"detail": exc.message})

    @app.exception_handler(Exception)
    async def _on_internal_error(request: Request, exc: Exception) -> JSONResponse:
        # Only server bugs get here (client mistakes are InputError/validation errors above).
        log.error("internal error on %s %s: %r", request.method, request.url.path, exc)
        return JSONResponse(status_code=500, content={"detail": f"internal error ({type(exc).__name__}); see the server log"})

    @app.exception_handler(ShuttingDown)
    async def _on_shutdown(request: Request, exc: ShuttingDown) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    @app.exception_handler(Overloaded)
    async def _on_overload(request: Request, exc: Overloaded) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)}, headers={"Retry-After": "1"})

    def resolve_decode(method: str | None, beam_size: int | None) -> tuple[str, int]:
        method = method or cfg.decode.method
        try:
            check_decode_method(model, method)
        except ValueError as e:
            raise InputError(422, f"decode_method: {e}") from None
        if method in GREEDY_METHODS:
            return method, 1  # beam_size is irrelevant; one key lets all greedy requests share a batch
        beam = beam_size if beam_size is not None else cfg.decode.beam_size
        check_beam_size(beam, scfg.max_beam_size)
        return method, beam

    async def decode_one(request: Request, feats: torch.Tensor, method: str | None, beam_size: int | None) -> TranscribeResponse:
        method, beam = resolve_decode(method, beam_size)
        hyp = await request.app.state.batcher.submit(feats, method, beam)
        ids = [int(i) for i in hyp.tokens]
        frames = hyp.token_frames
        start = request.scope.get(_START_KEY, time.perf_counter())
        return TranscribeResponse(
            text=tokenizer.decode(ids),
            tokens=[tokenizer.id_to_token[i] for i in ids],
            token_ids=ids,
            timestamps=None if frames is None else [round(int(f) * frame_seconds, 4) for f in frames],
            num_frames=int(feats.shape[0]),
            latency_ms=round((time.perf_counter() - start) * 1000.0, 2),
            decode_method=method,  # type: ignore[arg-type]
            beam_size=None if method in GREEDY_METHODS else beam,
        )

    async def decode_long(request: Request, wave: torch.Tensor, name: str, method: str | None,
                          beam_size: int | None) -> TranscribeResponse:
        """Over max_audio_seconds: VAD segments, all submitted to the batcher (src/serve/long_audio.py)."""
        method, beam = resolve_decode(method, beam_size)
        fields = await transcribe_long(
            wave, name, front_end=front_end, vad=cfg.vad, tokenizer=tokenizer, seconds_per_frame=frame_seconds,
            submit=lambda f: request.app.state.batcher.submit(f, method, beam), separator=word_separator(tokenizer))
        start = request.scope.get(_START_KEY, time.perf_counter())
        return TranscribeResponse(**fields, latency_ms=round((time.perf_counter() - start) * 1000.0, 2),
                                  decode_method=method, beam_size=None if method in GREEDY_METHODS else beam)  # type: ignore[arg-type]

    @app.get("/health", response_model=HealthResponse, summary="Model, device and limits")
    async def health() -> HealthResponse:
        return HealthResponse(
            status="ok",
            model_name=cfg.model.name,
            device=str(device),
            vocab_size=tokenizer.vocab_size,
            feature_dim=feat_dim,
            audio_supported=has_audio,
            sample_rate=cfg.features.sample_rate,
            min_frames=min_frames,
            max_frames=scfg.max_frames,
            max_body_bytes=scfg.max_body_bytes,
            max_audio_seconds=scfg.max_audio_seconds,
            max_beam_size=scfg.max_beam_size,
            max_pending=scfg.max_pending,
            batching=scfg.batching and scfg.max_batch_size > 1,
            batch_window_ms=scfg.batch_window_ms,
            max_batch_size=scfg.max_batch_size,
            batch_overhead_frames=scfg.batch_overhead_frames,
        )

    @app.post("/transcribe", response_model=TranscribeResponse, responses=_ERRORS, summary="Transcribe feature frames")
    async def transcribe(request: Request, body: TranscribeRequest) -> TranscribeResponse:
        # Parsing is a single numpy conversion plus one type pass (tens of ms at the
        # frame limit), so it stays on the event loop; only the model runs elsewhere.
        feats = parse_features(body.features, feat_dim=feat_dim, max_frames=scfg.max_frames, min_frames=min_frames)  # (T, F)
        return await decode_one(request, feats, body.decode_method, body.beam_size)

    @app.post(
        "/transcribe/audio",
        response_model=TranscribeResponse,
        responses={**_ERRORS, 415: {"model": ErrorResponse, "description": "Not a WAV file, or a wrong Content-Type."}},
        openapi_extra={"requestBody": _AUDIO_BODY},
        summary="Transcribe a WAV file",
    )
    async def transcribe_audio(
        request: Request,
        decode_method: DecodeMethod | None = Query(None, description="'greedy', 'beam', 'ctc_greedy' or 'ctc_beam'; default: the checkpoint's."),
        beam_size: int | None = Query(None, ge=1, description="Beam width for 'beam' or 'ctc_beam' (1..max_beam_size)."),
    ) -> TranscribeResponse:
        if front_end is None:
            raise InputError(
                422,
                f"this model was trained on toy feature vectors (data.dataset={cfg.data.dataset}), not on audio; "
                "POST (T, F) features to /transcribe, or serve a checkpoint trained on a WAV manifest",
            )
        data, name = await _read_wav_upload(request)
        wave = await run_in_threadpool(front_end.decode, data, name)  # (N,)
        if scfg.long_audio and wave.numel() > scfg.max_audio_seconds * cfg.features.sample_rate:
            return await decode_long(request, wave, name, decode_method, beam_size)
        feats = await run_in_threadpool(front_end.features, wave, name)  # (T, F); fbank is real work, keep it off the loop
        return await decode_one(request, feats, decode_method, beam_size)

    return app


async def _read_wav_upload(request: Request) -> tuple[bytes, str]:
    """The WAV bytes and a name for messages, from a multipart ``file`` field or a raw body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=8)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InputError(422, "the multipart body has no file field named 'file'; expected e.g. curl -F file=@speech.wav")
        return await upload.read(), upload.filename or "upload"
    if content_type in _WAV_TYPES:
        return await request.body(), "request body"
    raise InputError(
        415,
        f"Content-Type {content_type or '(none)'!r} is not supported; send multipart/form-data with a 'file' field "
        "or a raw WAV body with Content-Type: audio/wav",
    )


def serve_config_with(base: ServeConfig, **overrides: Any) -> ServeConfig:
    """``base`` with the overrides that are not None (command-line flags left unset keep the config's value)."""
    return dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})
