"""Runtime tensor checks and seeding.

``assert_shape`` checks a tensor against a named-dimension pattern and returns
the bindings, so the same letter means the same size across calls::

    dims = assert_shape(x, "B,3,H,W")
    assert_shape(logits, "B,K,H,W", **dims, K=num_classes)
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def assert_shape(t: torch.Tensor, spec: str, name: str = "tensor", **known: int) -> dict[str, int]:
    """Check ``t.shape`` against ``spec`` and return the dimension bindings.

    ``spec`` is comma-separated: a letter or word binds a dimension (and must agree
    with ``known`` and with earlier uses in the same spec), an integer must match
    exactly, and ``*`` matches anything.
    """
    dims = [d.strip() for d in spec.split(",")]
    bound = dict(known)
    actual = tuple(t.shape)

    def fail(why: str) -> None:
        expected = "(" + ", ".join(f"{d}={bound[d]}" if d in bound else d for d in dims) + ")"
        raise ValueError(f"{name}: expected shape {expected} [{spec}], got {actual}: {why}")

    if len(actual) != len(dims):
        fail(f"expected {len(dims)} dimensions, got {len(actual)}")
    for i, (d, size) in enumerate(zip(dims, actual)):
        if d == "*":
            continue
        if d.lstrip("-").isdigit():
            if size != int(d):
                fail(f"dimension {i} must be {d}, got {size}")
        elif d in bound:
            if bound[d] != size:
                fail(f"dimension {i} ({d}) must be {bound[d]}, got {size}")
        else:
            bound[d] = size
    return bound


def check_nan_inf(t: torch.Tensor, name: str = "tensor") -> None:
    """Raise FloatingPointError saying how many NaN/Inf values ``t`` holds and where the first is."""
    if not torch.is_floating_point(t):
        return
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        n_nan = int(torch.isnan(t).sum())
        n_inf = int(bad.sum()) - n_nan
        first = tuple(int(i) for i in bad.nonzero()[0]) if t.dim() else ()
        raise FloatingPointError(
            f"{name} (shape {tuple(t.shape)}) has {n_nan} NaN and {n_inf} Inf values; first at index {first}"
        )


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices); optionally force deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs this workspace setting for deterministic matmuls.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available; asking for ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("training.device=cuda but no CUDA device is available; use training.device=auto or cpu")
    return torch.device(name)
