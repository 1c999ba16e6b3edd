"""The precision choice of training.amp / --amp, with the CPU's capabilities mocked (runs on any CPU)."""

import pytest
import torch

import src.utils.amp as amp_mod
from src.utils.amp import cpu_bf16_capability, parse_amp, resolve_amp
from src.utils.config import ConfigError, load_config

# Trimmed /proc/cpuinfo texts of real machines (first processor block, flags shortened).
SAPPHIRE_RAPIDS = "processor : 0\nmodel name : Intel(R) Xeon(R) Processor\nflags : fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile avx512_fp16\n"
COOPER_LAKE = "processor : 0\nmodel name : Intel(R) Xeon(R) Gold 5318H\nflags : fpu sse2 avx2 avx512f avx512_bf16\n"
EPYC_ROME = "processor : 0\nmodel name : AMD EPYC 7B12\nflags : fpu sse2 avx2 fma bmi2\n"  # also avx512 "bf16"-less Zen 3
GRAVITON3 = "processor : 0\nBogoMIPS : 2100.00\nFeatures : fp asimd sve bf16 i8mm\nCPU implementer : 0x41\n"
GRAVITON2 = "processor : 0\nBogoMIPS : 243.75\nFeatures : fp asimd evtstrm aes crc32 atomics\n"

CPU = torch.device("cpu")


@pytest.mark.parametrize("cpuinfo, native, reason", [
    (SAPPHIRE_RAPIDS, True, "cpu has amx_bf16"),  # AMX preferred in the message over avx512_bf16
    (COOPER_LAKE, True, "cpu has avx512_bf16"),
    (GRAVITON3, True, "cpu has bf16"),
    (EPYC_ROME, False, "cpu has no native bf16"),
    (GRAVITON2, False, "cpu has no native bf16"),
    ("", False, "cpu bf16 support unknown"),
])
def test_cpu_bf16_capability_from_flags(cpuinfo, native, reason):
    got, why = cpu_bf16_capability(cpuinfo)
    assert got is native
    assert why.startswith(reason), why


def test_a_flag_is_matched_as_a_whole_word():
    # "avx512_bf16x" or a model name mentioning bf16 is not the flag
    fake = "model name : bf16 amx_bf16 marketing name\nflags : fpu avx512_bf16x amx_bf16_not\n"
    assert cpu_bf16_capability(fake)[0] is False


@pytest.mark.parametrize("cpuinfo, setting, dtype", [
    (SAPPHIRE_RAPIDS, "auto", torch.bfloat16),
    (SAPPHIRE_RAPIDS, True, torch.bfloat16),
    (SAPPHIRE_RAPIDS, False, None),
    (GRAVITON3, "auto", torch.bfloat16),
    (EPYC_ROME, "auto", None),  # emulated bf16 is slower than fp32: auto stays fp32
    (EPYC_ROME, True, torch.bfloat16),  # true forces it (and says it is emulated)
    (EPYC_ROME, False, None),
    ("", "auto", None),
])
def test_resolve_amp_on_cpu(cpuinfo, setting, dtype):
    choice = resolve_amp(setting, CPU, cpuinfo=cpuinfo)
    assert choice.dtype == dtype and choice.device_type == "cpu"
    assert not choice.uses_grad_scaler  # bf16 needs no loss scaling
    if setting is True and cpuinfo == EPYC_ROME:
        assert "emulated" in choice.reason
    with choice.autocast():
        out = torch.nn.functional.linear(torch.randn(2, 4), torch.randn(3, 4))
    assert out.dtype == (dtype or torch.float32)  # the context really switches the matmul precision


def test_describe_is_what_the_log_prints():
    assert resolve_amp("auto", CPU, cpuinfo=SAPPHIRE_RAPIDS).describe() == "bf16 (cpu has amx_bf16)"
    assert resolve_amp(False, CPU, cpuinfo=SAPPHIRE_RAPIDS).describe() == "fp32 (amp=false)"
    assert resolve_amp("auto", CPU, cpuinfo=EPYC_ROME).describe().startswith("fp32 (cpu has no native bf16")


@pytest.mark.parametrize("native_bf16, dtype", [(True, torch.bfloat16), (False, torch.float16)])
@pytest.mark.parametrize("setting", ["auto", True])
def test_resolve_amp_on_cuda_keeps_todays_choice(monkeypatch, native_bf16, dtype, setting):
    # bf16 only where the GPU has it natively (emulated bf16 is slower than fp32); else fp16 + GradScaler.
    seen = {}

    def is_bf16_supported(including_emulation=True):
        seen["including_emulation"] = including_emulation
        return native_bf16 or including_emulation

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    choice = resolve_amp(setting, torch.device("cuda"))
    assert choice.dtype == dtype and seen["including_emulation"] is False
    assert choice.uses_grad_scaler == (dtype == torch.float16)
    assert resolve_amp(False, torch.device("cuda")).dtype is None


def test_resolve_amp_reads_proc_cpuinfo_by_default(monkeypatch):
    monkeypatch.setattr(amp_mod, "read_cpuinfo", lambda: COOPER_LAKE)
    assert resolve_amp("auto", CPU).describe() == "bf16 (cpu has avx512_bf16)"
    monkeypatch.setattr(amp_mod, "read_cpuinfo", lambda: EPYC_ROME)
    assert resolve_amp("auto", CPU).dtype is None


def test_config_accepts_auto_true_false_and_rejects_others():
    assert load_config(None).training.amp == "auto"  # the default
    for text, value in [("auto", "auto"), ("true", True), ("false", False)]:
        assert load_config(None, [f"training.amp={text}"]).training.amp == value
    with pytest.raises(ConfigError, match="training.amp"):
        load_config(None, ["training.amp=bf16"])
    with pytest.raises(ValueError, match="auto, true or false"):
        resolve_amp("bf16", CPU)


def test_parse_amp_for_command_lines():
    assert [parse_amp(s) for s in ("auto", "true", "false", "TRUE", True)] == ["auto", True, False, True, True]
    with pytest.raises(ValueError, match="auto, true or false"):
        parse_amp("fp16")


def test_autocast_model_runs_only_the_model_in_bf16():
    from src.utils.amp import autocast_model
    from tests.models.tiny import tiny_model, toy_batch

    model = tiny_model("ctc").eval()
    assert autocast_model(model, resolve_amp(False, CPU)) is model  # fp32: no wrapper at all
    wrapped = autocast_model(model, resolve_amp(True, CPU))
    seen = []
    model.encoder.register_forward_hook(lambda m, args, out: seen.append(out[0].dtype))
    b = toy_batch()
    with torch.inference_mode():
        wrapped.decode(b["feats"], b["feat_lens"], method="greedy")
        losses = wrapped(b["feats"], b["feat_lens"], b["tokens"], b["token_lens"])
    assert seen == [torch.bfloat16, torch.bfloat16] and losses["loss"].dtype == torch.float32
    assert not torch.is_autocast_enabled("cpu")  # between model calls (features, resampling) it is fp32
    assert wrapped.training is False and wrapped.encoder is model.encoder  # everything else is the model's


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


def test_attention_softmax_under_cpu_autocast_is_the_fp32_softmax_rounded_once(monkeypatch):
    # What src/utils/amp.py claims for the attention weights: bf16 scores, with the padded
    # keys at finfo.min as the attention's mask leaves them, give exactly round(fp32 softmax).
    from src.models.attention import MultiHeadAttention

    torch.manual_seed(0)
    attn = MultiHeadAttention(dim=32, num_heads=2).eval()
    x = torch.randn(3, 9, 32) * 3  # (B, N, D)
    pad = torch.zeros(3, 9, dtype=torch.bool)
    pad[1, 6:] = True
    seen, softmax = {}, torch.softmax

    def spy(scores, dim, **kw):
        seen["in"], seen["out"] = scores.detach(), softmax(scores, dim, **kw).detach()
        return seen["out"]

    monkeypatch.setattr(torch, "softmax", spy)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        attn(x, x, x, key_pad_mask=pad)
    monkeypatch.undo()
    assert seen["in"].dtype == torch.bfloat16  # the scores came from a bf16 matmul
    assert torch.equal(seen["out"], torch.softmax(seen["in"].float(), dim=-1).to(torch.bfloat16))
    assert (seen["out"][1, :, :, 6:] == 0).all()  # padded keys get no weight
