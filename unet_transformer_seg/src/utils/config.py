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
class TransformerConfig:
    """The transformer at the U-Net bottleneck (used by ``unet_transformer``)."""

    num_layers: int = 2
    num_heads: int = 4
    embed_dim: int = 128  # D: token width inside the transformer
    mlp_ratio: float = 2.0  # hidden width of the MLP = mlp_ratio * D
    dropout: float = 0.0
    attn_dropout: float = 0.0
    pos_encoding: Literal["sinusoidal", "learned"] = "sinusoidal"
    # Reference grid side of both position codes: the training grid (image_size / 2**depth;
    # 64 / 8 = 8). Other grids (larger images) resample the code to it (pos_encoding.py).
    pos_max_size: int = 8
    # Project the bottleneck's C channels to D (and back) with 1x1 convs.
    # When False, D must equal the bottleneck's channel count.
    project: bool = True


@dataclass
class ModelConfig:
    name: Literal["unet", "unet_transformer"] = "unet"
    in_channels: int = 3
    num_classes: int = 4  # K, background included
    base_channels: int = 16  # channels after `inc`; doubled at each down step
    depth: int = 3  # number of down/up steps; H and W must divide by 2**depth
    norm: Literal["batch", "group"] = "batch"
    upsample: Literal["transpose", "bilinear"] = "transpose"
    attention_impl: Literal["math", "sdpa"] = "math"
    transformer: TransformerConfig = field(default_factory=TransformerConfig)


@dataclass
class LossConfig:
    name: Literal["ce", "dice", "ce_dice"] = "ce_dice"
    ce_weight: float = 1.0
    dice_weight: float = 1.0
    dice_smooth: float = 1.0
    dice_include_background: bool = True  # average the Dice loss over class 0 too (K > 1 only)


@dataclass
class DataConfig:
    dataset: Literal["toy_shapes", "folder"] = "toy_shapes"
    image_size: int = 64  # toy images are square; folder images are resized to it
    train_size: int = 2000  # toy split sizes
    val_size: int = 200
    seed: int = 1234  # toy data: sample i of a split depends only on (seed, split, i)
    min_shapes: int = 1
    max_shapes: int = 4
    noise_std: float = 0.05
    background: Literal["flat", "gradient", "texture"] = "texture"
    # Folder datasets (see README "Your own data").
    root: str = ""
    val_root: str = ""  # if empty, `val_fraction` of `root` is held out
    val_fraction: float = 0.1
    test_root: str = ""  # held-out pairs eval.py scores by default (never used to pick best.pt)
    intensity_range: list[float] = field(default_factory=list)  # 16-bit grey images: [lo, hi]; empty = per image
    mask_format: Literal["index", "palette", "binary"] = "index"
    ignore_index: int = 255
    class_names: list[str] = field(default_factory=list)  # empty: class_0..class_{K-1}
    # Augmentation (training split only).
    augment: bool = True
    hflip: bool = True
    vflip: bool = True
    rot90: bool = True
    scale_range: tuple[float, float] = (1.0, 1.0)  # random scale + crop; (1, 1) = off
    color_jitter: float = 0.0  # max relative change of brightness/contrast/saturation
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.25, 0.25, 0.25)
    num_workers: int = 0


@dataclass
class TrainingConfig:
    batch_size: int = 16
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    num_epochs: int = 10
    max_steps: int = 0  # 0 = no cap; otherwise stop after this many optimizer steps
    warmup_steps: int = 50
    min_lr_ratio: float = 0.01  # cosine decays to learning_rate * min_lr_ratio
    max_grad_norm: float = 1.0  # 0 = no clipping
    grad_accum_steps: int = 1
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # auto: bf16 autocast on a CPU with native bf16 (amx_bf16/avx512_bf16/Arm bf16) and on CUDA
    # (fp16 + GradScaler on GPUs without native bf16); fp32 otherwise. src/utils/amp.py says why.
    amp: bool | Literal["auto"] = "auto"
    channels_last: bool | Literal["auto"] = "auto"  # auto: channels_last on the CPU, where it measured faster
    grad_checkpointing: bool = False
    compile: bool = False
    # AdamW's update as one fused kernel over all parameters (torch.optim's fused=True) instead of
    # a Python loop of ~10 small ops per tensor; auto = fused where this torch supports it.
    fused_optimizer: bool | Literal["auto"] = "auto"
    sync_batchnorm: bool = False  # DDP on CUDA: BatchNorm statistics over the global batch (SyncBatchNorm)
    deterministic: bool = False
    log_every: int = 10  # steps between train.log lines
    num_vis: int = 8  # validation predictions drawn in plots/predictions.png


@dataclass
class ExperimentConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)


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
