"""Speed paths, each against the plain path: sdpa == math attention (whole hybrid model, real
loss), activation checkpointing through the trainer, the CUDA AMP dtype choice (CPU bf16 is in
tests/training/test_bf16.py), torch.compile with its eager fallback (failures at the call, the first forward and
the first backward). channels_last is covered in test_trainer.py."""

import warnings
from pathlib import Path

import pytest
import torch
import torch.utils.checkpoint

from src.losses import build_loss
from src.models import build_model
from src.training.compile_fallback import compile_or_eager
from src.training.trainer import amp_dtype, setup_amp, train
from src.utils.checkpoint import load_checkpoint
from src.utils.config import load_config
from src.utils.logging import make_run_dir

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"
HYBRID = ["model.name=unet_transformer", "training.max_steps=2"]


def tiny(*overrides):
    return load_config(TINY, list(overrides))


def run(tmp_path, name, *overrides):
    result = train(tiny(*overrides), make_run_dir(None, name, runs_root=tmp_path / "runs"), console=False)
    return result, load_checkpoint(result["latest_path"])["model"]


def _hybrid_loss_and_grads(impl: str, state: dict | None):
    cfg = tiny("model.name=unet_transformer", f"model.attention_impl={impl}")
    torch.manual_seed(0)
    model = build_model(cfg.model)
    if state is None:
        # proj_out starts at zero (the transformer's correction is off): give it weights so
        # the attention's parameters reach the loss.
        torch.nn.init.normal_(model.bottleneck.proj_out.weight, std=0.1)
    else:
        model.load_state_dict(state)
    loss_fn = build_loss(cfg.loss, cfg.model.num_classes, cfg.data.ignore_index)
    g = torch.Generator().manual_seed(1)
    images = torch.randn(2, 3, 32, 32, generator=g)  # (B, 3, H, W)
    masks = torch.randint(0, cfg.model.num_classes, (2, 32, 32), generator=g)  # (B, H, W)
    losses = loss_fn(model(images), masks)
    losses["loss"].backward()
    return model, {k: v.detach() for k, v in losses.items()}, {n: p.grad for n, p in model.named_parameters()}


def test_sdpa_equals_math_whole_hybrid_model():
    m_math, l_math, g_math = _hybrid_loss_and_grads("math", None)
    _, l_sdpa, g_sdpa = _hybrid_loss_and_grads("sdpa", m_math.state_dict())
    for k in l_math:
        torch.testing.assert_close(l_sdpa[k], l_math[k], atol=1e-6, rtol=1e-5, msg=k)
    assert g_math["bottleneck.encoder.blocks.0.attn.w_q.weight"].abs().sum() > 0  # attention is in the graph
    for name, g in g_math.items():
        torch.testing.assert_close(g_sdpa[name], g, atol=1e-5, rtol=1e-4, msg=name)


def test_sdpa_training_run_matches_math(tmp_path):
    _, w_math = run(tmp_path, "math", *HYBRID)
    _, w_sdpa = run(tmp_path, "sdpa", *HYBRID, "model.attention_impl=sdpa")
    for k in w_math:
        torch.testing.assert_close(w_sdpa[k].float(), w_math[k].float(), atol=1e-5, rtol=1e-4, msg=k)


def test_grad_checkpointing_through_the_trainer(tmp_path, monkeypatch):
    calls = []
    real = torch.utils.checkpoint.checkpoint

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    _, plain = run(tmp_path, "plain", *HYBRID)
    assert not calls
    monkeypatch.setattr("src.models.transformer.checkpoint", counting)
    _, ckpt = run(tmp_path, "ckpt", *HYBRID, "training.grad_checkpointing=true")
    assert len(calls) >= 2  # the trainer's flag reached the blocks: one call per block per training forward
    for k in plain:
        # Recomputation replays the same ops: bit-identical on the CPU.
        assert torch.equal(ckpt[k], plain[k]), k


def test_amp_dtype_choice_with_faked_capability(monkeypatch):
    cuda = torch.device("cuda")
    # Pre-Ampere: bf16 only through emulation, so fp16 (+ GradScaler) is chosen.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert amp_dtype(True, cuda) == torch.float16
    assert amp_dtype("auto", cuda) == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)  # Ampere+
    assert amp_dtype(True, cuda) == torch.bfloat16
    assert amp_dtype(False, cuda) is None
    choice, scaler = setup_amp(False, torch.device("cpu"))
    assert choice.dtype is None and not scaler.is_enabled()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; this CPU build has none")
def test_amp_on_cuda_trains(tmp_path):
    result, _ = run(tmp_path, "cuda_amp", *HYBRID, "training.device=cuda", "training.amp=true")
    assert result["status"] == "finished"
    choice, scaler = setup_amp(True, torch.device("cuda"))
    assert scaler.is_enabled() == (choice.dtype == torch.float16)


class _FailingForward(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        raise RuntimeError("dynamo: unsupported op (fake)")


class _FailBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("aot_autograd: backward compilation failed (fake)")


class _FailingBackward(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return _FailBackward.apply(self.model(x))


def _raise_at_call(model, *a, **k):
    raise RuntimeError("no C++ compiler (fake)")


@pytest.mark.parametrize("fake_compile", [_raise_at_call, _FailingForward, _FailingBackward],
                         ids=["at_call", "first_forward", "first_backward"])
def test_compile_failure_falls_back_to_eager(tmp_path, monkeypatch, fake_compile):
    _, eager = run(tmp_path, "eager", "training.max_steps=2")
    monkeypatch.setattr(torch, "compile", fake_compile)
    with pytest.warns(RuntimeWarning, match="torch.compile failed"):
        result, fell_back = run(tmp_path, "fallback", "training.max_steps=2", "training.compile=true")
    assert "warning: torch.compile failed" in (Path(result["latest_path"]).parents[1] / "train.log").read_text()
    for k in eager:
        # The probe restored RNG states and BatchNorm buffers and dropped its gradients.
        assert torch.equal(fell_back[k], eager[k]), k


def test_compile_success_is_used(tmp_path, monkeypatch):
    calls = []

    class Wrapped(torch.nn.Module):  # stands in for the compiled module; counts the calls the loop makes
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            calls.append(x.shape[0])
            return self.model(x)

    _, eager = run(tmp_path, "eager", "training.max_steps=2")
    monkeypatch.setattr(torch, "compile", Wrapped)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback warning
        _, compiled = run(tmp_path, "compiled", "training.max_steps=2", "training.compile=true")
    assert len(calls) == 1 + 2  # the probe, then the two training steps (validation uses the plain module)
    for k in eager:
        assert torch.equal(compiled[k], eager[k]), k


def test_compile_probe_leaves_model_unchanged(monkeypatch):
    cfg = tiny()
    torch.manual_seed(0)
    model = build_model(cfg.model)  # BatchNorm: the probe's forward updates the running statistics
    images, masks = torch.randn(2, 3, 32, 32), torch.zeros(2, 32, 32, dtype=torch.long)  # (B, 3, H, W), (B, H, W)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss_fn = build_loss(cfg.loss, cfg.model.num_classes, cfg.data.ignore_index)
    monkeypatch.setattr(torch, "compile", _FailingBackward)  # forward runs (and touches BN), backward fails
    rng = torch.get_rng_state()
    with pytest.warns(RuntimeWarning, match="backward compilation failed"):
        out = compile_or_eager(model, images, masks, loss_fn)
    assert out is model
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
