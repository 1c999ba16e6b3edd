"""Checkpoint averaging: one model whose weights are the mean of several checkpoints' weights.

The weights at the end of successive epochs sit on a noisy path through one basin of the
loss; their mean lies nearer its centre than any single point of the path, which usually
scores better on held-out data than the last or the best checkpoint alone. ESPnet and WeNet
average the last or the best N epochs before decoding (the idea of Polyak averaging; see
also "stochastic weight averaging", Izmailov et al. 2018). It only makes sense for
checkpoints of one run, late enough that they share a basin, so the inputs must agree on
everything but the weights: model config, tokenizer, CMVN statistics and parameter names.

The result keeps the last input's config, tokenizer and CMVN, and no optimizer state: it
is for eval.py, infer.py and serve.py, not for resuming.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from src.utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

# Fields an averaged checkpoint carries over from the last input (what inference reads).
KEPT_FIELDS = ("config", "tokenizer", "cmvn", "num_params")


def average_states(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of model state dicts with the same keys and shapes.

    Floating tensors are averaged in float64 and cast back to their dtype; integer
    buffers (e.g. BatchNorm's ``num_batches_tracked``) are counters, not weights, and
    come from the last state.
    """
    if not states:
        raise ValueError("nothing to average: give at least one checkpoint")
    keys = list(states[-1])
    for i, s in enumerate(states):
        if list(s) != keys:
            missing, extra = sorted(set(keys) - set(s)), sorted(set(s) - set(keys))
            raise CheckpointError(f"checkpoint {i + 1} has other parameters than the last one (missing {missing}, extra {extra})")
    out = {}
    for k in keys:
        last = states[-1][k]
        shapes = {tuple(s[k].shape) for s in states}
        if len(shapes) > 1:
            raise CheckpointError(f"parameter {k} has different shapes across the checkpoints: {sorted(shapes)}")
        if last.is_floating_point():
            out[k] = (sum(s[k].to(torch.float64) for s in states) / len(states)).to(last.dtype)
        else:
            out[k] = last.clone()
    return out


def average_checkpoints(paths: Sequence[str | Path]) -> dict[str, Any]:
    """A checkpoint dict whose ``model`` is the mean of the inputs' models (see the module docstring)."""
    ckpts = [load_checkpoint(p) for p in paths]
    for path, c in zip(paths, ckpts):
        if "model" not in c or "config" not in c:
            raise CheckpointError(f"{path} has no 'model' or 'config' field; it was not written by src/training/trainer.py")
    last = ckpts[-1]
    # What defines the function: the model and feature settings (a resumed run may change the
    # schedule), the tokenizer and the CMVN statistics.
    def identity(c: dict[str, Any]) -> dict[str, Any]:
        return {"config.model": c["config"].get("model"), "config.features": c["config"].get("features"),
                "tokenizer": c.get("tokenizer"), "cmvn": c.get("cmvn")}

    for path, c in zip(paths, ckpts):
        for field, value in identity(c).items():
            if value != identity(last)[field]:
                raise CheckpointError(f"{path} has another {field} than {paths[-1]}: average checkpoints of one run only")
    state = {k: last[k] for k in KEPT_FIELDS if k in last}
    state["model"] = average_states([c["model"] for c in ckpts])
    state["averaged_from"] = [{"path": str(p), "step": c.get("step"), "epoch": c.get("epoch")} for p, c in zip(paths, ckpts)]
    return state


def write_average(paths: Sequence[str | Path], out: str | Path) -> dict[str, Any]:
    """Average ``paths`` and write the result atomically to ``out``; returns what was written."""
    state = average_checkpoints(paths)
    save_checkpoint(out, state)
    return state


__all__ = ["average_states", "average_checkpoints", "write_average"]
