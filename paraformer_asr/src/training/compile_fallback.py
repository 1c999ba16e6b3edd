"""``training.compile``: torch.compile the model, or train eagerly when compilation fails.

``torch.compile`` is lazy: the call itself almost never fails; TorchDynamo traces
at the first forward, and AOTAutograd compiles the backward graph at the first
backward. A missing C++ compiler, an unsupported op or a platform gap shows up
there, in the middle of the training loop. So the compiled module is probed once
on a real batch, forward and backward, before training starts; if anything
raises, training continues with the eager module and a warning.

The probe must not change the run: the RNG states (dropout, GLM sampling) and
the module's buffers (BatchNorm running statistics) are restored afterwards and
the probe's gradients are dropped, so a run whose compilation failed equals an
eager run bit for bit. No optimizer step is taken, so parameters are untouched.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from src.utils.amp import AmpChoice
from src.utils.checkpoint import capture_rng_state, restore_rng_state


def compile_or_eager(
    model: nn.Module, batch: dict[str, Any], device: torch.device, amp: AmpChoice
) -> nn.Module:
    """``torch.compile(model)`` if one forward+backward on ``batch`` works, else ``model`` (with a warning).

    ``batch`` is a collated training batch (feats (B, T, F), feat_lens (B,), tokens (B, L), token_lens (B,)).
    """
    rng = capture_rng_state()
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    try:
        compiled = torch.compile(model)
        with amp.autocast():
            losses = compiled(batch["feats"].to(device), batch["feat_lens"].to(device),
                              batch["tokens"].to(device), batch["token_lens"].to(device))
        losses["loss"].backward()
    except Exception as e:  # any backend/platform failure; eager always works
        warnings.warn(f"torch.compile failed ({type(e).__name__}: {e}); training eagerly", RuntimeWarning, stacklevel=2)
        compiled = model
    finally:
        model.zero_grad(set_to_none=True)
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
        restore_rng_state(rng)
    return compiled
