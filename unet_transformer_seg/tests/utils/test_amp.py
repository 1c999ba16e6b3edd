"""The precision choice (src/utils/amp.py) with the CPU's capabilities mocked, and the fp32 norm hooks."""

import pytest
import torch
import torch.nn as nn

from src.utils import amp as amp_mod
from src.utils.amp import AmpChoice, cpu_bf16_capability, keep_norms_fp32, parse_amp, resolve_amp

CPU = torch.device("cpu")
SPR = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile avx512_fp16\n"
COOPER = "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n"
EPYC_ZEN3 = "flags\t\t: fpu sse2 avx2 fma\n"
GRAVITON3 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"
GRAVITON2 = "Features\t: fp asimd crc32 atomics\n"


@pytest.mark.parametrize("cpuinfo, native, why", [
    (SPR, True, "cpu has amx_bf16"),  # AMX preferred in the reason when both are there
    (COOPER, True, "cpu has avx512_bf16"),
    (GRAVITON3, True, "cpu has bf16"),
    (EPYC_ZEN3, False, "cpu has no native bf16"),
    (GRAVITON2, False, "cpu has no native bf16"),
    ("", False, "cpu bf16 support unknown"),
])
def test_cpu_bf16_capability(cpuinfo, native, why):
    got, reason = cpu_bf16_capability(cpuinfo)
    assert got is native
    assert reason.startswith(why)


def test_flag_names_are_matched_whole():
    assert cpu_bf16_capability("flags : avx512_bf16x amx_bf16_foo\n")[0] is False


@pytest.mark.parametrize("setting, cpuinfo, dtype, reason", [
    ("auto", SPR, torch.bfloat16, "cpu has amx_bf16"),
    (True, SPR, torch.bfloat16, "cpu has amx_bf16"),
    (False, SPR, None, "amp=false"),
    ("auto", EPYC_ZEN3, None, "cpu has no native bf16"),  # emulated bf16 would be slower: stay fp32
    (True, EPYC_ZEN3, torch.bfloat16, "amp=true forces it"),
    ("auto", GRAVITON3, torch.bfloat16, "cpu has bf16"),
    ("auto", "", None, "cpu bf16 support unknown"),
])
def test_resolve_amp_on_mocked_cpus(setting, cpuinfo, dtype, reason):
    choice = resolve_amp(setting, CPU, cpuinfo=cpuinfo)
    assert choice.dtype == dtype
    assert choice.reason.startswith(reason)
    assert not choice.uses_grad_scaler
    assert choice.describe().startswith({None: "fp32 (", torch.bfloat16: "bf16 ("}[dtype])


def test_resolve_amp_reads_proc_cpuinfo(monkeypatch):
    monkeypatch.setattr(amp_mod, "read_cpuinfo", lambda: COOPER)
    assert resolve_amp("auto", CPU).describe() == "bf16 (cpu has avx512_bf16)"
    monkeypatch.setattr(amp_mod, "read_cpuinfo", lambda: EPYC_ZEN3)
    assert resolve_amp("auto", CPU).dtype is None


def test_resolve_amp_on_mocked_gpus(monkeypatch):
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    fp16 = resolve_amp("auto", cuda)
    assert fp16.dtype == torch.float16 and fp16.uses_grad_scaler  # pre-Ampere: fp16 + GradScaler
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert resolve_amp(True, cuda).dtype == torch.bfloat16
    assert resolve_amp(False, cuda).dtype is None


def test_bad_settings_are_errors():
    with pytest.raises(ValueError, match="auto, true or false"):
        resolve_amp("bf16", CPU)
    with pytest.raises(ValueError, match="auto, true or false"):
        parse_amp("yes")
    assert [parse_amp(v) for v in ("auto", "TRUE", "false", True)] == ["auto", True, False, True]


def test_autocast_context_uses_the_choice():
    x = torch.randn(2, 4)
    lin = nn.Linear(4, 3)
    with AmpChoice(torch.bfloat16, "cpu", "test").autocast():
        assert lin(x).dtype == torch.bfloat16
    with AmpChoice(None, "cpu", "test").autocast():
        assert lin(x).dtype == torch.float32


def _ulps(a: torch.Tensor, b: torch.Tensor) -> int:
    """Largest distance between two bf16 tensors in units of the last place (same-sign values)."""
    return int((a.contiguous().view(torch.int16).int() - b.contiguous().view(torch.int16).int()).abs().max())


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("make", [lambda: nn.BatchNorm2d(6), lambda: nn.GroupNorm(3, 6), lambda: nn.LayerNorm([6, 5, 5])])
def test_norms_compute_in_fp32_under_cpu_autocast(make, layout):
    """On bf16 input the CPU norm returns its fp32 result rounded once: equal to 1 ulp, with BatchNorm's
    running statistics those of the fp32 computation. A norm computing in bf16 (its statistics
    over 8-bit values) would be many ulps off."""
    torch.manual_seed(0)
    conv, norm = nn.Conv2d(3, 6, 3, padding=1), make()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-1.0, 1.0)
    model = keep_norms_fp32(nn.Sequential(conv, norm)).to(memory_format=layout)
    ref = __import__("copy").deepcopy(norm)
    x = (torch.randn(4, 3, 5, 5) * 3 + 2).contiguous(memory_format=layout)
    for training in (True, False):
        model.train(training)
        ref.train(training)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            c = conv(x)  # the conv alone runs in bf16
            y = model(x)
        assert c.dtype == torch.bfloat16 and y.dtype == torch.bfloat16
        expected = ref(c.float())  # the same bf16 conv output, normalised in fp32 outside autocast
        assert _ulps(y, expected.to(torch.bfloat16)) <= 1
        if isinstance(norm, nn.BatchNorm2d):
            assert norm.running_mean.dtype == norm.running_var.dtype == torch.float32
            torch.testing.assert_close(norm.running_mean, ref.running_mean, rtol=0, atol=1e-6)
            torch.testing.assert_close(norm.running_var, ref.running_var, rtol=0, atol=1e-6)


def test_norm_hook_casts_to_fp32_off_the_cpu_bf16_path():
    """fp16 input (the CUDA fp16 path, here on the CPU) is cast to fp32 before the norm."""
    seen = {}
    norm = keep_norms_fp32(nn.Sequential(nn.BatchNorm2d(2)))[0]
    norm.register_forward_pre_hook(lambda m, args: seen.update(dtype=args[0].dtype))  # runs after the fp32 hook
    with torch.autocast("cpu", dtype=torch.bfloat16):
        norm(torch.randn(2, 2, 3, 3).half())
    assert seen["dtype"] == torch.float32


def test_norm_hooks_change_nothing_in_fp32():
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 1), nn.GroupNorm(2, 4))
    hooked = keep_norms_fp32(__import__("copy").deepcopy(plain))
    keep_norms_fp32(hooked)  # idempotent: one hook per norm
    assert sum(len(m._forward_pre_hooks) for m in hooked.modules()) == 2
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(plain(x), hooked(x))


@pytest.mark.parametrize("device_type, dtype, impl, warns", [
    ("cpu", torch.bfloat16, "sdpa", True),  # the measured slow pair
    ("cpu", torch.bfloat16, "math", False),
    ("cpu", None, "sdpa", False),  # fp32 sdpa is the fast path on the CPU
    ("cuda", torch.bfloat16, "sdpa", False),  # GPU flash attention is not the CPU kernel
])
def test_sdpa_bf16_warning_names_the_fix(device_type, dtype, impl, warns):
    from src.utils.amp import AmpChoice, sdpa_bf16_warning

    advice = sdpa_bf16_warning(AmpChoice(dtype, device_type, "test"), impl)
    assert (advice is not None) is warns
    if warns:
        assert "model.attention_impl=math" in advice and "training.amp=false" in advice
