"""Checkpoints: a dict of named fields, written atomically and loaded safely.

A checkpoint holds whatever the trainer puts in it (model, optimizer, scheduler,
step, epoch, best metric, RNG states, resolved config, ...) plus two fields added
here: ``project`` (so the other project's checkpoints are refused with a clear
message) and ``format_version``.

Saving writes a temporary file in the same folder, flushes it to disk and then
renames it over the target. A rename is atomic on POSIX and Windows, so a run
killed mid-save leaves the previous ``latest.pt`` intact, never a truncated one.
Loading uses ``torch.load(weights_only=True)``: a checkpoint can hold tensors and
plain Python containers, but never executes code from the file.
"""

from __future__ import annotations

import os
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

PROJECT = "paraformer_asr"
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, foreign or from the other project."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temp file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save({**state, "project": PROJECT, "format_version": FORMAT_VERSION}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` of this project."""
    path = Path(path)
    if not path.is_file():
        hint = " (no run has finished an epoch yet?)" if "latest" in path.parts else ""
        raise CheckpointError(f"checkpoint not found: {path}{hint}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError) as e:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated, corrupt or not a torch file): {e}"
        ) from None
    if not isinstance(state, dict) or "project" not in state:
        raise CheckpointError(f"{path} is a torch file but not a checkpoint of this project (no 'project' field)")
    if state["project"] != PROJECT:
        raise CheckpointError(
            f"{path} is a checkpoint of '{state['project']}', not of '{PROJECT}'; "
            f"use it with that project's scripts"
        )
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path} has format_version {state['format_version']}; this code reads up to {FORMAT_VERSION}")
    return state


def capture_rng_state() -> dict[str, Any]:
    """Every RNG a training step touches, as tensors and plain types (safe for weights_only)."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": list(random.getstate()[1]) + [random.getstate()[2]],
        "python_version": random.getstate()[0],
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_has_gauss": int(np_state[3]),
        "numpy_cached_gauss": float(np_state[4]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py = state["python"]
    random.setstate((state["python_version"], tuple(py[:-1]), py[-1]))
    np.random.set_state(
        (
            "MT19937",
            state["numpy_keys"].numpy().astype(np.uint32),
            state["numpy_pos"],
            state["numpy_has_gauss"],
            state["numpy_cached_gauss"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
