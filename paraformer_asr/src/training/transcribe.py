"""WAV files -> transcripts with per-token timestamps: the ``infer.py --audio`` and ``eval.py --manifest`` path.

The front end is the training one without dither and SpecAugment: read the WAV
(resampled to ``features.sample_rate``), Kaldi fbank with the checkpoint's
``features.*``, then the checkpoint's global CMVN (``ckpt["cmvn"]``).

Timestamps. The Paraformer's CIF predictor fires token i at encoder frame t'_i
(``Hypothesis.token_frames``; a CTC model gives the frame where the token's spike
starts). We report ``t' * s * frame_shift_ms / 1000`` seconds (s = subsampling): the
start of input frame t' s, the first frame encoder frame t' reads. A CTC head with
``model.ctc_upsample`` U > 1 has U frames per encoder frame, so its frame f is reported at
``f * s * frame_shift_ms / (1000 U)`` (``src.models.seconds_per_frame``). The conv front end
(stride-2 3x3 convs, no padding) makes encoder frame t' read input frames
t' s .. t' s + 2(s - 1) (x4: 4t' .. 4t' + 6; ``src.models.subsampling.receptive_field``,
measured in tests/models/test_subsampling.py), so the centre of what it hears lies
``(s - 1) * frame_shift_ms + frame_length_ms / 2`` later (x4, 10 ms / 25 ms: 42.5 ms);
add that for the centre. The same convention is used by the service and long-form
paths (``f * seconds_per_frame``). On the toy task the centre frame t' s + s - 1 of a
trained Paraformer's fire lies within one encoder frame of the fired character's true
span (tests/training/test_timestamps.py): CIF fires once a token's weight is complete,
so the time marks where the model has heard the token, not a phone-aligned onset.

Long audio. The encoder's self-attention costs O(T'^2) memory (5 minutes at x4
subsampling is T' = 7500 frames: ~0.9 GB per attention map and head count), so
files longer than ``serve.max_audio_seconds`` (the service's limit, kept in the
checkpoint's config) are refused before their samples are read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from src.data.audio import AudioError, read_wav_info
from src.data.audio_backends import audio_duration, is_wav, read_audio
from src.data.cmvn import GlobalCMVN
from src.data.features import Fbank
from src.data.tokenizer import CharTokenizer
from src.models import seconds_per_frame
from src.models.subsampling import min_input_frames
from src.utils.config import ExperimentConfig

LIMIT_KEY = "serve.max_audio_seconds"


class AudioInputError(ValueError):
    """An input cannot be transcribed (too long, too short, wrong checkpoint); the message gives the fix."""


def check_audio_checkpoint(cfg: ExperimentConfig, ckpt_path: str | Path, cmvn_state: dict | None) -> None:
    """Refuse a checkpoint trained on toy features, and one whose CMVN statistics are missing."""
    if cfg.data.dataset != "manifest":
        raise AudioInputError(
            f"{ckpt_path} was trained on toy features (data.dataset={cfg.data.dataset}), not on audio, so it cannot "
            "transcribe WAV files; train one on a manifest (e.g. configs/paraformer_speech.yaml), or use "
            "--text / --features with this checkpoint"
        )
    if cfg.features.apply_cmvn and not cmvn_state:
        raise AudioInputError(
            f"{ckpt_path} has features.apply_cmvn=true but no 'cmvn' statistics; it was written before CMVN was "
            "saved in checkpoints: retrain (or resume) it with the current scripts/train.py"
        )


def check_toy_checkpoint(cfg: ExperimentConfig, ckpt_path: str | Path) -> None:
    """Refuse ``--text`` (synthetic toy features) on a checkpoint trained on audio."""
    if cfg.data.dataset != "toy":
        raise AudioInputError(
            f"{ckpt_path} was trained on audio (data.dataset={cfg.data.dataset}); --text/--input-file/--interactive "
            "synthesise toy features it has never seen. Give it speech with --audio file.wav (or a folder or a "
            ".jsonl manifest)"
        )


def header_seconds(path: Path) -> float | None:
    """Duration from the WAV header alone, or None where the header cannot say (streaming size, extensible format).

    Other formats: FLAC's STREAMINFO or ffprobe (src/data/audio_backends.py)."""
    if not is_wav(path):
        return audio_duration(path, exact=False)  # ffprobe's estimate is enough for a limit check
    try:
        sr, channels, width, frames = read_wav_info(path)
    except AudioError:
        return None  # read_wav gives the precise error, or reads what `wave` cannot
    if frames * channels * width > path.stat().st_size:
        return None  # a streaming writer's placeholder size, not the real length
    return frames / sr


def check_duration(path: Path | str, seconds: float, limit: float) -> None:
    """Refuse audio longer than ``limit`` seconds, naming the limit, its config key and the flag that raises it."""
    if limit > 0 and seconds > limit:
        raise AudioInputError(
            f"{path}: {seconds:.1f} s of audio is longer than the limit of {limit:g} s ({LIMIT_KEY} in the "
            f"checkpoint's config). The encoder's memory grows with the square of the length: split the file "
            f"into shorter pieces, or raise the limit with --max-audio-seconds {int(seconds) + 1}"
        )


@dataclass
class Transcript:
    """One file's result; ``timestamps[i]`` (seconds) belongs to ``tokens[i]``."""

    audio_filepath: str
    text: str
    tokens: list[str]
    timestamps: list[float] | None
    duration: float  # seconds of audio
    seconds: float  # wall time: read + resample + fbank + CMVN + decode
    reference: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rtf(self) -> float:
        """Real-time factor: processing time / audio duration (< 1 is faster than real time)."""
        return self.seconds / max(self.duration, 1e-9)

    def to_dict(self) -> dict[str, Any]:
        out = {"audio_filepath": self.audio_filepath, "text": self.text, "tokens": self.tokens,
               "timestamps": self.timestamps, "duration": round(self.duration, 4), "rtf": round(self.rtf, 5)}
        if self.reference is not None:
            out["reference"] = self.reference
        return out | self.extra


class AudioTranscriber:
    """Holds the model, the fbank extractor and CMVN; ``__call__`` transcribes one WAV file."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: CharTokenizer,
        cfg: ExperimentConfig,
        *,
        cmvn_state: dict | None,
        decode_opts: dict[str, Any],
        max_audio_seconds: float,
        device: torch.device,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.cfg = cfg
        self.fbank = Fbank(cfg.features)
        self.cmvn = GlobalCMVN.from_dict(cmvn_state) if cmvn_state and cfg.features.apply_cmvn else None
        self.decode_opts = decode_opts
        self.max_audio_seconds = max_audio_seconds
        self.device = device
        self.subsampling = int(getattr(model, "subsampling", cfg.model.subsampling))
        self.seconds_per_frame = seconds_per_frame(model, cfg.features.frame_shift_ms)  # one frame of token_frames
        self.min_frames = min_input_frames(self.subsampling)

    def precheck(self, path: Path) -> None:
        """Refuse an over-long file from its header, before its samples are read."""
        seconds = header_seconds(path)
        if seconds is not None:
            check_duration(path, seconds, self.max_audio_seconds)

    @torch.inference_mode()
    def __call__(self, path: Path, reference: str | None = None) -> Transcript:
        start = time.perf_counter()
        self.precheck(path)
        wave = read_audio(path, target_sr=self.cfg.features.sample_rate)  # (N,)
        duration = wave.numel() / self.cfg.features.sample_rate
        check_duration(path, duration, self.max_audio_seconds)  # exact, also where the header could not say
        feats = self.fbank(wave, training=False).to(torch.float32)  # (T, F)
        if feats.shape[0] < self.min_frames:
            f = self.cfg.features
            raise AudioInputError(
                f"{path}: {1000 * duration:.0f} ms of audio gives {feats.shape[0]} frames but the model needs at least "
                f"{self.min_frames} ({f.frame_length_ms:g} ms + {self.min_frames - 1} x {f.frame_shift_ms:g} ms of audio)"
            )
        if self.cmvn is not None:
            feats = self.cmvn.apply(feats)  # (T, F)
        lens = torch.tensor([feats.shape[0]], device=self.device)  # (1,)
        hyp = self.model.decode(feats[None].to(self.device), lens, **self.decode_opts)[0]
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        ids = [int(i) for i in hyp.tokens]
        stamps = None
        if hyp.token_frames is not None:
            stamps = [round(int(f) * self.seconds_per_frame, 4) for f in hyp.token_frames]
        return Transcript(
            audio_filepath=str(path),
            text=self.tokenizer.decode(ids),
            tokens=[self.tokenizer.id_to_token[i] for i in ids],
            timestamps=stamps,
            duration=duration,
            seconds=seconds,
            reference=reference,
        )


def format_timestamps(t: Transcript) -> str:
    """``t@0.12 e@0.20 a@0.28 _@0.36 ...`` (``_`` is the word space; BPE: ``_the@0.36``)."""
    if t.timestamps is None:
        return "(this model gives no token frames)"
    return " ".join(f"{tok.replace(' ', '_')}@{s:.2f}" for tok, s in zip(t.tokens, t.timestamps))  # BPE tokens carry their space
