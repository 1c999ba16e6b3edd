"""Mixed precision: which dtype ``training.amp`` / ``--amp`` picks, and why.

``auto`` (the default) uses bf16 autocast where the hardware has native bf16 and
stays fp32 elsewhere:

- **CUDA**: bf16 where the GPU has it natively (Ampere and later), else fp16 with a
  GradScaler (emulated bf16 runs, but slower than fp32). ``true`` means the same.
- **CPU**: bf16 when the CPU has native bf16 matrix instructions: on x86 the
  ``amx_bf16`` (Intel AMX tiles) or ``avx512_bf16`` flag in /proc/cpuinfo, on Arm the
  ``bf16`` feature. Without them bf16 is emulated by conversions around fp32
  arithmetic, so it is slower than fp32 and ``auto`` stays fp32; ``true`` forces bf16
  anyway (for testing the path, with a warning).
- ``false``: fp32 everywhere.

What stays fp32 under autocast: the master weights and AdamW's state (autocast only
casts the *inputs* of matmul-like ops, the parameters themselves stay fp32); every loss
(the models compute ``log_softmax(logits.float())`` for CE and CTC, and CIF's alphas,
sums and the MAE loss in fp32, see src/models/cif_predictor.py); the residual stream and
therefore the pre-norm LayerNorms (fp32 residual + bf16 sub-layer output promotes to
fp32); and the softmax statistics of attention: on bf16 scores torch's CPU softmax takes
the row maximum and the sum of exponentials in fp32 and rounds only the probabilities,
which the next matmul would round to bf16 anyway (tests/utils/test_amp.py checks that its
result is exactly the fp32 softmax rounded to bf16). bf16 has fp32's 8-bit exponent, so
gradients cannot underflow and, unlike fp16, no loss scaling is needed.
"""

from __future__ import annotations

import platform
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

import torch

AmpSetting = Union[bool, Literal["auto"]]

# x86 flags that mean bf16 matrix arithmetic in hardware, best first (AMX tiles > AVX512 dot products).
X86_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
ARM_BF16_FEATURE = "bf16"


def read_cpuinfo() -> str:
    """The text of /proc/cpuinfo, or "" where there is none (macOS, Windows)."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_bf16_capability(cpuinfo: str | None = None) -> tuple[bool, str]:
    """(native bf16?, why) from /proc/cpuinfo text (read when ``None``).

    x86 lists ``flags : ...``, Arm ``Features : ...``; the first line of either decides.
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
    """The resolved precision: ``dtype`` None = fp32; ``reason`` says why (logged)."""

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


class AutocastModel:
    """``model`` whose ``forward`` and ``decode`` run under autocast; everything else is the model's.

    Only the model runs in bf16: feature extraction, resampling and data loading (which
    ``evaluate`` and the audio transcriber run between model calls, with fp32 convs and
    matmuls of their own) stay fp32, which wrapping a whole loop in autocast would not give.
    """

    def __init__(self, model: torch.nn.Module, amp: AmpChoice) -> None:
        self.model, self.amp = model, amp

    def __getattr__(self, name: str):  # only called for names this wrapper does not have
        return getattr(self.model, name)

    def __call__(self, *args, **kwargs):
        with self.amp.autocast():
            return self.model(*args, **kwargs)

    def decode(self, *args, **kwargs):
        with self.amp.autocast():
            return self.model.decode(*args, **kwargs)


def autocast_model(model: torch.nn.Module, amp: AmpChoice) -> torch.nn.Module:
    """``model`` itself for fp32, else an :class:`AutocastModel` around it."""
    return model if amp.dtype is None else AutocastModel(model, amp)  # type: ignore[return-value]


def parse_amp(value: str | bool) -> AmpSetting:
    """``auto|true|false`` from a command line (or a bool) -> the config value; anything else is an error."""
    if isinstance(value, bool) or value == "auto":
        return value
    text = str(value).strip().lower()
    if text in ("auto", "true", "false"):
        return True if text == "true" else False if text == "false" else "auto"
    raise ValueError(f"amp must be auto, true or false, got {value!r}")


def resolve_amp(setting: AmpSetting, device: torch.device, *, cpuinfo: str | None = None) -> AmpChoice:
    """The precision for ``setting`` (``training.amp`` or ``--amp``) on ``device``.

    ``cpuinfo`` replaces /proc/cpuinfo (tests mock CPU capabilities with it).
    """
    if setting not in (True, False, "auto"):
        raise ValueError(f"training.amp must be auto, true or false, got {setting!r}")
    if setting is False:
        return AmpChoice(None, device.type, "amp=false")
    if device.type == "cuda":
        # Emulated bf16 (pre-Ampere GPUs) "works" but runs slower than fp32: only native bf16 counts.
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


__all__ = ["AmpChoice", "AmpSetting", "AutocastModel", "autocast_model", "cpu_bf16_capability", "parse_amp", "read_cpuinfo", "resolve_amp", "sdpa_bf16_warning"]
