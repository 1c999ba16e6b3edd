"""Checks on client input, each failing with a status code and a message that says
what is wrong and what was expected (never a 500 for bad input)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch


class InputError(Exception):
    """Bad client input; ``status`` is the HTTP code (413 for limits, else 4xx)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _shape_hint(feat_dim: int) -> str:
    return f"expected a list of frames, each a list of {feat_dim} numbers (shape (T, {feat_dim}))"


def parse_features(raw: Any, *, feat_dim: int, max_frames: int, min_frames: int = 1) -> torch.Tensor:
    """JSON ``features`` -> (T, F) float32 tensor, or :class:`InputError`.

    Checked, in order: a non-empty list (422), at most ``max_frames`` frames (413),
    every row a list of ``feat_dim`` values (422), only numbers, not booleans or
    strings (422), and only finite values (422; Python's json accepts ``NaN`` and
    ``Infinity`` literals, and large numbers overflow float32 to inf), and last at
    least ``min_frames`` frames (the model's conv front end needs them; 422).
    """
    hint = _shape_hint(feat_dim)
    if not isinstance(raw, list):
        raise InputError(422, f"features must be a list of frames, got {type(raw).__name__}; {hint}")
    if len(raw) == 0:
        raise InputError(422, f"features is empty (0 frames); {hint}, with T >= 1")
    if len(raw) > max_frames:
        raise InputError(
            413, f"features has {len(raw)} frames, more than the limit of max_frames={max_frames}; split the input"
        )
    for t, row in enumerate(raw):
        if not isinstance(row, list):
            raise InputError(422, f"features[{t}] is a {type(row).__name__}, not a list; {hint}")
        if len(row) != feat_dim:
            # The most common client mistake (e.g. the 3-column example), so name both sizes.
            raise InputError(
                422,
                f"features[{t}] has {len(row)} values but the model expects F={feat_dim} values per frame; {hint}",
            )
    # One C-level pass over the types; bool is excluded on purpose (True is an int in Python).
    types = set(map(type, itertools.chain.from_iterable(raw)))
    if not types <= {int, float}:
        for t, row in enumerate(raw):
            for f, v in enumerate(row):
                if type(v) not in (int, float):
                    raise InputError(
                        422, f"features[{t}][{f}] is {v!r} ({type(v).__name__}), not a number; {hint}"
                    )
    try:
        with np.errstate(over="ignore"):  # overflow to inf is reported just below
            arr = np.asarray(raw, dtype=np.float32)  # (T, F)
    except OverflowError:  # an int beyond float64 range (JSON allows 1 followed by 400 zeros)
        arr = np.array([[float(v) if abs(v) < 1e300 else np.inf for v in row] for row in raw], dtype=np.float32)
    if not np.isfinite(arr).all():
        t, f = (int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        v = raw[t][f]
        if isinstance(v, float) and not math.isfinite(v):
            shown = repr(v)
        else:
            shown = f"{f'{v:.3g}' if isinstance(v, float) else f'an integer of {len(str(abs(v)))} digits'} (outside float32 range)"
        raise InputError(422, f"features[{t}][{f}] is {shown}; all values must be finite numbers")
    if len(raw) < min_frames:
        raise InputError(
            422, f"features has {len(raw)} frames but the model needs at least {min_frames} (its subsampling front end); {hint}"
        )
    return torch.from_numpy(arr)  # (T, F)


def check_beam_size(beam_size: int, max_beam_size: int) -> None:
    """Beam search cost grows with the beam; cap it so one request cannot hog the worker."""
    if not 1 <= beam_size <= max_beam_size:
        raise InputError(422, f"beam_size={beam_size} is out of range; expected 1..{max_beam_size} (serve.max_beam_size)")
