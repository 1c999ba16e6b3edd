"""Experiment configuration: nested dataclasses loaded from YAML.

The dataclasses below are the single source of defaults. A YAML file holds only
the values that differ from them, and ``--override section.key=value`` changes
one value on top of that. Every key and every value is checked: an unknown key
or a value of the wrong type raises :class:`ConfigError`, whose message names
the key, its section and the closest valid keys. Scripts turn that error into
exit code 2 (see :func:`load_config_or_exit`).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


# --------------------------------------------------------------------------- #
# The configuration tree                                                       #
# --------------------------------------------------------------------------- #
@dataclass
class EncoderConfig:
    type: Literal["transformer", "conformer"] = "transformer"
    num_layers: int = 4
    num_heads: int = 4
    ffn_dim: int = 512
    dropout: float = 0.1
    attn_dropout: float = 0.0
    conv_kernel: int = 15  # conformer depthwise conv kernel (odd)
    conv_norm: Literal["layer_norm", "batch_norm"] = "layer_norm"  # conformer conv-module norm; layer_norm is padding-invariant in training
    # Intermediate CTC (Lee & Watanabe 2021): encoder layers (1-based, below the last) whose output is
    # also scored by the CTC head; model.name: ctc only. Empty = off.
    inter_ctc_layers: list[int] = field(default_factory=list)
    self_conditioning: bool = False  # self-conditioned CTC (Nozaki & Komatsu 2021): those posteriors are fed back into the stream


@dataclass
class PredictorConfig:
    """CIF predictor: conv + linear + sigmoid gives the per-frame weight alpha."""

    conv_kernel: int = 3
    threshold: float = 1.0  # integrate-and-fire threshold
    tail_threshold: float = 0.45  # inference, FunASR's rule: the leftover fires one last token iff leftover + this >= threshold
    impl: Literal["parallel", "loop"] = "parallel"  # integrate-and-fire: cumsum+matmul form or the readable frame loop (equal, tested)
    dropout: float = 0.1


@dataclass
class DecoderConfig:
    num_layers: int = 2
    num_heads: int = 4
    ffn_dim: int = 512
    dropout: float = 0.1


@dataclass
class ModelConfig:
    name: Literal["paraformer", "ctc", "transformer_ar"] = "paraformer"
    d_model: int = 128  # D
    subsampling: int = 4  # conv2d front end: 4 (two stride-2 convs) or 2 or 8
    subsampling_channels: int = 0  # conv front end channels C; 0 = d_model (WeNet); smaller is much cheaper
    attention_impl: Literal["math", "sdpa"] = "math"
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    sampling_ratio: float = 0.75  # GLM lambda; 0 disables glancing sampling
    ctc_weight: float = 0.3  # paraformer: weight of the auxiliary CTC loss (0 = no CTC head)
    mae_weight: float = 1.0  # paraformer: weight of the CIF token-count loss
    inter_ctc_weight: float = 0.3  # ctc with encoder.inter_ctc_layers: loss = (1 - w) ctc + w mean(intermediate ctcs)
    ctc_upsample: int = 1  # ctc: U CTC frames per encoder frame (a D -> U V head); U > 1 lets one frame emit U tokens
    label_smoothing: float = 0.1


@dataclass
class LossConfig:
    ctc_impl: Literal["ours", "torch"] = "ours"


@dataclass
class DataConfig:
    dataset: Literal["toy", "manifest"] = "toy"
    # Toy sequence task (src/data/toy_seq2seq.py).
    train_size: int = 4000
    val_size: int = 200
    test_size: int = 200
    seed: int = 1234  # sample i of a split depends only on (seed, split, i)
    feat_dim: int = 80  # F
    min_words: int = 1
    max_words: int = 4
    min_frames_per_char: int = 4  # >= subsampling keeps <= 1 token per subsampled frame
    max_frames_per_char: int = 8
    blend_frames: int = 2  # neighbouring characters cross-fade over this many frames
    noise_std: float = 0.3
    silence_frames: int = 8  # leading and trailing silence, so CTC has room for every token and repeat
    repeat_gap_frames: int = 4  # silence dip between identical neighbours ("ll"); >= subsampling
    # Real audio (JSONL manifests with NeMo keys audio_filepath, duration, text).
    train_manifest: str = ""
    val_manifest: str = ""
    test_manifest: str = ""
    max_duration: float = 30.0  # seconds; longer utterances are skipped in training
    cache_dir: str = ""  # fbank cache; empty = <manifest folder>/.fbank_cache
    feature_cache: bool = True  # fbank cache for eval splits and CMVN; training with dither/augment reads waveforms and computes fbank per epoch
    # Vocabulary (src/data/vocab.py): "alphabet" = fixed a-z, space, apostrophe; "char" = the training
    # manifest's characters (any script); "bpe" = byte-level BPE trained on the training manifest.
    tokenizer: Literal["alphabet", "char", "bpe"] = "alphabet"
    char_min_count: int = 1  # char: rarer characters become <unk>
    bpe_vocab_size: int = 500  # bpe: V including 3 specials and 256 byte tokens
    # Batching.
    bucket_size_multiplier: int = 20  # sort this many batches' worth by length, then batch
    num_workers: int = 0


@dataclass
class FeaturesConfig:
    """Kaldi-style log-mel filterbank (src/data/features.py)."""

    sample_rate: int = 16000
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    num_mel_bins: int = 80
    preemphasis: float = 0.97
    window: Literal["povey", "hamming"] = "povey"
    remove_dc_offset: bool = True
    dither: float = 1.0  # training only
    low_freq: float = 20.0
    high_freq: float = 0.0  # <= 0 means nyquist + high_freq
    energy_floor: float = 1.1920928955078125e-07  # mel energies floored at FLT_EPSILON before the log, as Kaldi and torchaudio
    apply_cmvn: bool = True  # global mean/variance normalisation from training statistics
    cmvn_frame_range_db: float = 50.0  # CMVN statistics use frames within this many dB of the utterance's loudest (not silence); 0 = all frames


@dataclass
class SpecAugmentConfig:
    enabled: bool = False
    num_freq_masks: int = 2
    freq_mask_width: int = 10
    num_time_masks: int = 2
    time_mask_width: int = 20
    freq_warp: float = 0.0  # VTLP-style speaker augmentation: spectrum stretched by a random factor in [1 - w, 1 + w]; 0 = off


@dataclass
class AugmentConfig:
    """Waveform augmentation in training (src/data/augment/), a function of (training.seed, utterance, epoch)."""

    enabled: bool = False  # master switch; false = the pipeline is bit-identical to having no augmentation
    clean_epochs: int = 0  # the first N epochs see clean waveforms (bit-identical to enabled: false)
    speed_factors: list[float] = field(default_factory=lambda: [0.9, 1.0, 1.1])  # resampled speed perturbation; [1.0] = off
    reverb_prob: float = 0.0  # synthetic room impulse response (exponentially decaying noise)
    rt60_min: float = 0.2  # seconds
    rt60_max: float = 0.8
    telephone_prob: float = 0.0  # band-limit to 300-3400 Hz
    silence_prob: float = 0.0  # pad random leading/trailing silence
    silence_max_seconds: float = 0.5  # each side
    silence_noisy_prob: float = 0.5  # padded silence is low-level noise instead of digital zeros
    noise_prob: float = 0.0  # additive noise at a random SNR
    snr_db_min: float = 0.0
    snr_db_max: float = 30.0
    noise_types: list[str] = field(default_factory=lambda: ["white", "pink", "brown", "babble"])
    babble_speakers: int = 3  # other training utterances summed into one babble noise
    gain_prob: float = 0.0  # random peak level
    gain_db_min: float = -20.0  # dBFS
    gain_db_max: float = -1.0


@dataclass
class TrainingConfig:
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    num_epochs: int = 20
    max_steps: int = 0  # 0 = no cap; otherwise stop after this many optimizer steps
    scheduler: Literal["noam", "cosine"] = "cosine"
    warmup_steps: int = 200
    min_lr_ratio: float = 0.01  # cosine decays to learning_rate * min_lr_ratio
    max_grad_norm: float = 5.0  # 0 = no clipping
    grad_accum_steps: int = 1
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool | Literal["auto"] = "auto"  # auto: bf16 where the CPU/GPU has it natively, else fp32 (CUDA: fp16); src/utils/amp.py
    grad_checkpointing: bool = False
    # Paraformer: the first N optimizer steps train encoder + CTC head alone (the predictor and
    # decoder are skipped); needs model.ctc_weight > 0. Lets a hard corpus break through (ABLATIONS.md).
    ctc_warmup_steps: int = 0
    compile: bool = False
    # AdamW's update as one fused kernel over all parameters (torch.optim's fused=True) instead of
    # a Python loop of ~10 small ops per tensor; auto = fused where this torch supports it.
    fused_optimizer: bool | Literal["auto"] = "auto"
    # torch's intra-op threads on the CPU. auto = torch's default thread count; with
    # data.num_workers > 0 that count if OpenMP's idle threads sleep (OMP_WAIT_POLICY=PASSIVE,
    # which scripts/train.py sets then), else minus one per worker, at least 1 (a spinning model
    # thread on a worker's core waits at every barrier). Ignored on CUDA. src/training/trainer.py.
    num_threads: int | Literal["auto"] = "auto"
    deterministic: bool = False
    log_every: int = 20  # steps between train.log lines
    # Also keep checkpoints/epoch_<N>.pt of the last N finished epochs, for
    # scripts/average_checkpoints.py; 0 = only best.pt and latest.pt.
    keep_epoch_checkpoints: int = 0


@dataclass
class DecodeConfig:
    # greedy / beam: the model's own output (CTC head, NAR or AR decoder); ctc_greedy / ctc_beam:
    # the CTC head of any model trained with model.ctc_weight > 0 (src/decode/methods.py).
    method: Literal["greedy", "beam", "ctc_greedy", "ctc_beam"] = "greedy"
    beam_size: int = 4
    length_penalty: float = 1.0  # AR beam: score / length**length_penalty
    ctc_weight: float = 0.5  # paraformer beam: weight of the CTC score in rescoring
    length_delta: int = 1  # paraformer beam: also try CIF count N +- 1..delta tokens as candidates
    max_len: int = 0  # transformer_ar: most output tokens; 0 = one per encoder frame (T')
    # Shallow fusion of a token n-gram LM (scripts/train_lm.py) into the CTC prefix beam search
    # (ctc_beam, and beam of the CTC model): score = log p_ctc + lm_weight * log p_lm + lm_bonus * |y|.
    lm_path: str = ""  # "" = no LM
    lm_weight: float = 0.5
    lm_bonus: float = 1.0


@dataclass
class VADConfig:
    """Energy-based voice activity detection for long recordings (src/data/vad.py, src/training/long_form.py)."""

    frame_ms: float = 10.0  # energy frame (non-overlapping)
    threshold_db: float = 15.0  # speech: frame energy above the noise floor (a low percentile) by this much
    noise_percentile: float = 10.0  # which percentile of frame energies is the noise floor
    min_energy_db: float = -70.0  # never speech below this (dBFS): digital silence gives no segments
    min_speech_ms: float = 200.0  # shorter bursts (clicks) are dropped
    min_silence_ms: float = 300.0  # shorter pauses do not end a segment
    max_segment_seconds: float = 20.0  # longer speech is cut at its quietest frame; must be <= serve.max_audio_seconds
    pad_ms: float = 100.0  # context kept before and after each segment
    batch_size: int = 8  # segments decoded together


@dataclass
class ServeConfig:
    max_frames: int = 6000  # 60 s of 10 ms frames
    max_body_bytes: int = 10_000_000
    max_audio_seconds: float = 60.0  # per segment: longer uploads are split by the VAD (vad.*) unless long_audio is false
    long_audio: bool = True  # false: audio over max_audio_seconds gets 413 instead of VAD segmentation
    batch_window_ms: float = 10.0  # dynamic batching: how long to collect requests
    max_batch_size: int = 16
    batching: bool = True  # False: one request per forward pass (the baseline for the speed-up)
    batch_overhead_frames: int = 100  # fixed cost of a forward pass in frames: collected requests are split by length when padding would cost more
    max_beam_size: int = 16  # a client's beam_size is capped so one request cannot hog the worker
    max_pending: int = 256  # requests queued or decoding at once; more get 503 + Retry-After (load shedding)
    torch_threads: int = 0  # intra-op threads for inference; 0 = torch's default
    host: str = "127.0.0.1"  # loopback only unless asked: the service has no authentication
    port: int = 8000


@dataclass
class ExperimentConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    vad: VADConfig = field(default_factory=VADConfig)


# --------------------------------------------------------------------------- #
# Loading, checking, overriding, dumping (identical in both projects)          #
# --------------------------------------------------------------------------- #
class ConfigError(ValueError):
    """A config file or override is invalid; the message says how to fix it."""


def _suggest(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"{hint} Valid keys: {', '.join(valid)}."


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", str(tp))


_FLOAT_LITERAL = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Return ``value`` checked against the annotation ``tp`` (ints widen to float)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    bad = ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(repr(a) for a in args)}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                pass
        raise bad
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise bad
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}: {value!r}")
            return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is float:
        # PyYAML reads "1e-4" (no dot) as a string; accept such numeric literals.
        if isinstance(value, str) and _FLOAT_LITERAL.fullmatch(value.strip()):
            return float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    raise ConfigError(f"{where}: unsupported annotation {tp!r}")  # a bug in this file


def _build(cls: type, data: dict[str, Any], section: str) -> Any:
    """Build dataclass ``cls`` from ``data``, recursing into nested dataclasses."""
    name = section or "top level"
    if not isinstance(data, dict):
        raise ConfigError(f"section '{name}' must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in hints:
            full = f"{section}.{key}" if section else key
            raise ConfigError(f"unknown key '{key}' in section '{name}' ({full}).{_suggest(str(key), valid)}")
    kwargs = {}
    for key, value in data.items():
        full = f"{section}.{key}" if section else key
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value, full)
        else:
            kwargs[key] = _coerce(value, tp, full)
    return cls(**kwargs)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict (tuples become lists) for YAML, JSON and checkpoints."""

    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(cfg))


def config_from_dict(data: dict[str, Any]) -> ExperimentConfig:
    """Rebuild (and re-check) a config, e.g. the one stored in a checkpoint."""
    return _build(ExperimentConfig, data, "")


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like section.key=value, e.g. training.batch_size=32")
    path, raw = text.split("=", 1)
    keys = path.strip().split(".")
    if len(keys) < 2 or not all(keys):
        raise ConfigError(f"override '{text}': the key must be dotted, e.g. training.batch_size=32")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"override '{text}': the value is not a YAML scalar ({e})") from None
    return keys, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Write each ``a.b.c=value`` into the nested dict ``data`` (checked later by _build)."""
    for text in overrides:
        keys, value = _parse_override(text)
        cls: Any = ExperimentConfig
        node = data
        for depth, key in enumerate(keys):
            hints = typing.get_type_hints(cls)
            if key not in hints:
                section = ".".join(keys[:depth]) or "top level"
                valid = [f.name for f in dataclasses.fields(cls)]
                raise ConfigError(f"unknown key '{key}' in section '{section}' (override '{text}').{_suggest(key, valid)}")
            if depth == len(keys) - 1:
                if dataclasses.is_dataclass(hints[key]):
                    raise ConfigError(f"override '{text}': '{'.'.join(keys)}' is a section; set one of its keys")
                node[key] = value
            else:
                if not dataclasses.is_dataclass(hints[key]):
                    raise ConfigError(f"override '{text}': '{'.'.join(keys[: depth + 1])}' is a value, not a section")
                cls = hints[key]
                node = node.setdefault(key, {})
                if not isinstance(node, dict):
                    raise ConfigError(f"override '{text}': section '{key}' in the file is not a mapping")
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Defaults, then the YAML file at ``path`` (if any), then ``overrides``."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a mapping of sections, got {type(data).__name__}")
    data = apply_overrides(data, list(overrides or []))
    return _build(ExperimentConfig, data, "")


def load_config_or_exit(path: str | Path | None, overrides: list[str] | None = None) -> ExperimentConfig:
    """:func:`load_config` for scripts: a bad config prints the reason and exits with code 2."""
    try:
        return load_config(path, overrides)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def dump_config(cfg: ExperimentConfig, path: str | Path | None = None) -> str:
    """The resolved config as YAML; also written to ``path`` when given."""
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
    if path is not None:
        Path(path).write_text(text)
    return text
