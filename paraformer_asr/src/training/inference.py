"""Checkpoint -> ready-to-decode model, and feature files -> tensors.

Shared by ``eval.py``, ``infer.py`` and the service, so all three rebuild the
model the same way: the config, tokenizer and weights all come from the
checkpoint, never from the current defaults.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from src.data.batching import feature_dim
from src.data.tokenizer import CharTokenizer
from src.data.vocab import tokenizer_from_json
from src.models import build_model
from src.utils.checkpoint import CheckpointError, load_checkpoint
from src.utils.config import ConfigError, ExperimentConfig, config_from_dict
from src.utils.logging import resolve_run_path


def load_for_inference(
    ckpt_path: str | Path, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, CharTokenizer, ExperimentConfig]:
    """Rebuild ``(model in eval mode on device, tokenizer, resolved config)`` from a training checkpoint."""
    state = load_checkpoint(resolve_run_path(ckpt_path))  # also runs/latest/... where latest is a plain file
    for key in ("model", "config", "tokenizer"):
        if key not in state:
            raise CheckpointError(f"{ckpt_path} has no '{key}' field; it was not written by src/training/trainer.py")
    try:
        cfg = config_from_dict(state["config"])
    except ConfigError as e:
        raise CheckpointError(f"{ckpt_path}: its stored config does not fit this code ({e})") from None
    tokenizer = tokenizer_from_json(state["tokenizer"])  # char or BPE
    model = build_model(cfg, tokenizer.vocab_size, feature_dim(cfg))
    model.load_state_dict(state["model"])
    model.to(device).eval()
    return model, tokenizer, cfg


def load_features(path: str | Path, feat_dim: int) -> torch.Tensor:
    """Features (T, F) float32 from ``.npy`` or JSON (``{"features": [[...]]}`` or a bare list of lists)."""
    path = Path(path)
    if path.suffix == ".npy":
        array = np.load(path, allow_pickle=False)
    elif path.suffix == ".json":
        data = json.loads(path.read_text())
        if isinstance(data, dict):
            if "features" not in data:
                raise ValueError(f"{path}: a JSON object must hold a 'features' key with a (T, F) list of lists")
            data = data["features"]
        array = np.asarray(data, dtype=np.float32)
    else:
        raise ValueError(f"{path}: unsupported feature file; use .npy or .json")
    if array.ndim != 2 or array.shape[1] != feat_dim or array.shape[0] == 0:
        raise ValueError(f"{path}: expected features of shape (T, {feat_dim}) with T >= 1, got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{path}: features contain NaN or Inf")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
