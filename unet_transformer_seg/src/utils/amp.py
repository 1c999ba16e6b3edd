"""Mixed precision: which dtype ``training.amp`` / ``--amp`` picks, why, and what stays fp32.

``auto`` (the default) uses autocast where the hardware does the low-precision
arithmetic natively and stays fp32 elsewhere:

- **CUDA**: bf16 where the GPU has it natively (Ampere and later), else fp16 with a
  GradScaler (pre-Ampere GPUs report bf16 as "supported" through slow emulation, hence
  ``including_emulation=False``). ``true`` means the same.
- **CPU**: bf16 when the CPU has native bf16 matrix instructions: on x86 the
  ``amx_bf16`` (AMX tiles) or ``avx512_bf16`` flag in /proc/cpuinfo, on Arm the ``bf16``
  feature. oneDNN then runs the convolutions and matmuls in bf16. Without those
  instructions bf16 is emulated by conversions around fp32 arithmetic and is slower than
  fp32, so ``auto`` stays fp32; ``true`` forces bf16 anyway (to test the path).
- ``false``: fp32 everywhere.

What stays fp32 under autocast, and why:

- the master weights and AdamW's state: autocast casts the *inputs* of conv/matmul ops
  per call; the parameters themselves are never converted;
- the losses: ``SegLoss`` runs CE and the Dice softmax sums on ``logits.float()``;
- the norms' arithmetic: statistics, normalisation, the affine transform and BatchNorm's
  running statistics are computed in fp32 against the fp32 weights. torch's autocast has
  no fp32 list entry for BatchNorm, GroupNorm or LayerNorm, so they see bf16 activations.
  On the CPU their kernels then accumulate in fp32 and round only the output to bf16 (the
  next conv would round it anyway): tests/utils/test_amp.py checks the output is the fp32
  result rounded to bf16, to 1 ulp, and the running statistics agree to 1e-6. Elsewhere
  (CUDA, fp16) :func:`keep_norms_fp32` casts the norm's input to fp32. Handing the CPU
  kernels their bf16 input saves the two casts around every norm: 1.04-1.22x on the bf16
  step (docs/BENCHMARKS.md);
- the attention softmax: src/models/attention.py asks for an fp32 softmax.

bf16 has fp32's 8-bit exponent, so gradients cannot underflow and, unlike fp16, no loss
scaling is needed.
"""

from __future__ import annotations

import platform
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

import torch
import torch.nn as nn

AmpSetting = Union[bool, Literal["auto"]]

# x86 flags that mean bf16 matrix arithmetic in hardware, best first (AMX tiles > AVX512 dot products).
X86_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
ARM_BF16_FEATURE = "bf16"
NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm)


def read_cpuinfo() -> str:
    """The text of /proc/cpuinfo, or "" where there is none (macOS, Windows)."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_bf16_capability(cpuinfo: str | None = None) -> tuple[bool, str]:
    """(native bf16?, why) from /proc/cpuinfo text (read when ``None``).

    x86 lists ``flags : ...``, Arm ``Features : ...``; the first such line decides.
    """
    text = read_cpuinfo() if cpuinfo is None else cpuinfo
    flags: set[str] = set()
    features: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "flags" and not flags:
            flags = set(value.split())
        elif key == "features" and not features:
            features = set(value.split())
    for flag in X86_BF16_FLAGS:
        if flag in flags:
            return True, f"cpu has {flag}"
    if ARM_BF16_FEATURE in features:
        return True, f"cpu has {ARM_BF16_FEATURE}"
    if flags or features:
        return False, f"cpu has no native bf16 (none of {', '.join(X86_BF16_FLAGS)}, {ARM_BF16_FEATURE})"
    return False, f"cpu bf16 support unknown (no flags in /proc/cpuinfo on {platform.system() or 'this OS'})"


@dataclass(frozen=True)
class AmpChoice:
    """The resolved precision: ``dtype`` None = fp32; ``reason`` says why (it is logged)."""

    dtype: torch.dtype | None
    device_type: str
    reason: str

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    @property
    def uses_grad_scaler(self) -> bool:
        """Only fp16 needs loss scaling (its 5-bit exponent underflows small gradients)."""
        return self.dtype == torch.float16

    def describe(self) -> str:
        """E.g. ``bf16 (cpu has amx_bf16)``: what the first log line prints after ``amp=``."""
        return f"{self.name} ({self.reason})"

    def autocast(self) -> AbstractContextManager:
        """``torch.autocast`` for the chosen dtype, or a no-op for fp32."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


def parse_amp(value: str | bool) -> AmpSetting:
    """``auto|true|false`` from a command line (or a bool) -> the config value; anything else is an error."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("auto", "true", "false"):
        return True if text == "true" else False if text == "false" else "auto"
    raise ValueError(f"--amp must be auto, true or false, got {value!r}")


def resolve_amp(setting: AmpSetting, device: torch.device, *, cpuinfo: str | None = None) -> AmpChoice:
    """The precision for ``setting`` (``training.amp`` or ``--amp``) on ``device``.

    ``cpuinfo`` replaces /proc/cpuinfo (tests mock the CPU's capabilities with it).
    """
    if setting is not True and setting is not False and setting != "auto":
        raise ValueError(f"training.amp must be auto, true or false, got {setting!r}")
    if setting is False:
        return AmpChoice(None, device.type, "amp=false")
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return AmpChoice(torch.bfloat16, "cuda", "gpu has native bf16")
        return AmpChoice(torch.float16, "cuda", "gpu has no native bf16: fp16 + GradScaler")
    if device.type == "cpu":
        native, why = cpu_bf16_capability(cpuinfo)
        if native:
            return AmpChoice(torch.bfloat16, "cpu", why)
        if setting is True:
            return AmpChoice(torch.bfloat16, "cpu", f"amp=true forces it; {why}: emulated, slower than fp32")
        return AmpChoice(None, "cpu", f"{why}: emulated bf16 is slower than fp32")
    return AmpChoice(None, device.type, f"no autocast path for device {device.type}")


def _norm_input_fp32(module: nn.Module, args: tuple) -> tuple | None:
    """Forward pre-hook: under autocast, make the norm compute in fp32.

    A bf16 input on the CPU is left as it is: the CPU kernels compute in fp32 and round
    only the output (module docstring). Any other low-precision input is cast to fp32.
    """
    x = args[0] if args else None
    if torch.is_tensor(x) and x.is_floating_point() and x.dtype != torch.float32 \
            and torch.is_autocast_enabled(x.device.type):
        if x.device.type == "cpu" and x.dtype == torch.bfloat16:
            return None
        return (x.float(), *args[1:])
    return None  # fp32 input or no autocast: unchanged, so an fp32 run is bit for bit the same


def keep_norms_fp32(model: nn.Module) -> nn.Module:
    """Make every BatchNorm/GroupNorm/LayerNorm of ``model`` compute in fp32 under autocast (returns ``model``).

    Idempotent; the hooks are not part of the state_dict, so checkpoints are unchanged.
    """
    for module in model.modules():
        if isinstance(module, NORM_TYPES) and not getattr(module, "_norm_fp32_hook", False):
            module.register_forward_pre_hook(_norm_input_fp32)
            module._norm_fp32_hook = True
    return model


def sdpa_bf16_warning(choice: AmpChoice, attention_impl: str) -> str | None:
    """A warning when the config pairs ``attention_impl=sdpa`` with CPU bf16 autocast, else None.

    PyTorch's CPU flash-attention kernel is slow in bf16 (its backward above all): on the
    Sapphire Rapids CPU of docs/BENCHMARKS.md the sdpa path trained at 0.64-0.83x of fp32 while
    our ``math`` attention gained from bf16. Nothing is changed; the user is told.
    """
    if choice.device_type == "cpu" and choice.dtype == torch.bfloat16 and attention_impl == "sdpa":
        return ("model.attention_impl=sdpa under CPU bf16 autocast is slower than fp32 on the CPUs we measured "
                "(docs/BENCHMARKS.md, 'bf16 on the CPU'); set model.attention_impl=math (the default) or training.amp=false")
    return None


__all__ = ["AmpChoice", "AmpSetting", "cpu_bf16_capability", "keep_norms_fp32", "parse_amp", "read_cpuinfo",
           "resolve_amp", "sdpa_bf16_warning"]
