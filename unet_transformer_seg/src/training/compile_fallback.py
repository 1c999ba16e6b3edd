"""``training.compile``: torch.compile the model, or train eagerly when compilation fails.

``torch.compile`` is lazy: the call itself almost never fails; TorchDynamo traces
at the first forward, and AOTAutograd compiles the backward graph at the first
backward. A missing C++ compiler, an unsupported op or a platform gap shows up
there, in the middle of the training loop. So the compiled module is probed once
on a real batch, forward and backward, before training starts; if anything
raises, training continues with the eager module and a warning.

The probe must not change the run: the RNG states (dropout) and the module's
buffers (BatchNorm running statistics) are restored afterwards and the probe's
gradients are dropped, so a run whose compilation failed equals an eager run bit
for bit. No optimizer step is taken, so parameters are untouched.
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch
from torch import nn

from src.training.evaluate import autocast_context
from src.utils.checkpoint import capture_rng_state, restore_rng_state


def compile_or_eager(
    model: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]],
    *,
    autocast_dtype: torch.dtype | None = None,
    warn: Callable[[str], None] | None = None,
) -> nn.Module:
    """``torch.compile(model)`` if one forward+backward on a batch works, else ``model`` (with a warning).

    Args:
        images: (B, 3, H, W) on the model's device, in the training memory format.
        masks: (B, H, W) int64 targets for ``loss_fn``.
        warn: also called with the warning text (the trainer passes its logger).
    """
    rng = capture_rng_state()
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    was_training = model.training
    model.train()
    try:
        compiled = torch.compile(model)
        with autocast_context(images.device, autocast_dtype):
            logits = compiled(images)  # (B, K, H, W)
        loss_fn(logits.float(), masks)["loss"].backward()
    except Exception as e:  # any backend/platform failure; eager always works
        msg = f"torch.compile failed ({type(e).__name__}: {e}); training in eager mode"
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        if warn is not None:
            warn(f"warning: {msg}")
        compiled = model
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
        restore_rng_state(rng)
    return compiled
