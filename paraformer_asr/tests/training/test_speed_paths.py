"""Speed paths change speed, never results: each flag against the plain path, on whole models and the trainer.

- attention_impl sdpa vs math: loss and every gradient of each whole model.
- training.grad_checkpointing: loss and every gradient equal, dropout and GLM sampling on.
- training.amp: off on the CPU (identical to fp32); on CUDA bf16 where native, else fp16 + GradScaler.
- training.compile: wraps the model in torch.compile; a failure at the first forward or backward
  falls back to eager with a warning, and the run equals an eager run bit for bit.
"""

import pytest
import torch

import src.training.trainer as trainer
from src.models import build_model
from src.utils.checkpoint import load_checkpoint
from src.utils.config import load_config
from src.utils.logging import make_run_dir

from tests.models.tiny import FEAT, VOCAB, tiny_config, toy_batch

MODELS = ["paraformer", "ctc", "transformer_ar"]

TINY = [
    "model.d_model=32",
    "model.encoder.num_layers=1",
    "model.encoder.num_heads=2",
    "model.encoder.ffn_dim=64",
    "model.decoder.num_layers=1",
    "model.decoder.num_heads=2",
    "model.decoder.ffn_dim=64",
    "model.encoder.dropout=0.2",  # dropout and GLM (default sampling_ratio) on: RNG use must be unchanged
    "data.feat_dim=16",
    "data.max_words=2",
    "data.train_size=24",
    "data.val_size=4",
    "data.test_size=4",
    "training.batch_size=8",
    "training.num_epochs=1",
    "training.warmup_steps=2",
    "training.device=cpu",
    "training.log_every=1000",
]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def loss_and_grads(model: torch.nn.Module, seed: int = 7) -> tuple[dict, dict]:
    b = toy_batch()
    model.train().zero_grad()
    torch.manual_seed(seed)  # the same dropout masks and GLM draws for both runs
    losses = model(b["feats"], b["feat_lens"], b["tokens"], b["token_lens"])
    losses["loss"].backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return {k: v.detach() for k, v in losses.items()}, grads


def built(name: str, **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(tiny_config(name, **overrides), vocab_size=VOCAB, input_dim=FEAT)


@pytest.mark.parametrize("name", MODELS)
def test_sdpa_equals_math_whole_model_loss_and_grads(name):
    # GLM off: it takes the argmax of a first decoder pass, where a last-bit difference could flip a token
    math_model = built(name, attention_impl="math", sampling_ratio=0.0)
    sdpa_model = built(name, attention_impl="sdpa", sampling_ratio=0.0)
    sdpa_model.load_state_dict(math_model.state_dict())  # same weights (the seed gives them anyway)
    loss_m, grad_m = loss_and_grads(math_model)
    loss_s, grad_s = loss_and_grads(sdpa_model)
    assert loss_m.keys() == loss_s.keys()
    for k in loss_m:
        torch.testing.assert_close(loss_s[k], loss_m[k], rtol=1e-5, atol=1e-5, msg=f"loss term {k}")
    assert grad_m.keys() == grad_s.keys() == {n for n, _ in math_model.named_parameters()}
    for n in grad_m:
        torch.testing.assert_close(grad_s[n], grad_m[n], rtol=1e-4, atol=1e-5, msg=lambda m: f"grad {n}: {m}")


@pytest.mark.parametrize("name", MODELS)
def test_grad_checkpointing_whole_model_same_loss_and_every_grad(name):
    # dropout on in every block and GLM on: checkpointing replays the RNG state when it recomputes
    model = built(name)
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.2
    model.grad_checkpointing = False
    loss_off, grad_off = loss_and_grads(model)
    model.grad_checkpointing = True
    loss_on, grad_on = loss_and_grads(model)
    for k in loss_off:
        torch.testing.assert_close(loss_on[k], loss_off[k], msg=f"loss term {k}")
    assert grad_on.keys() == grad_off.keys() == {n for n, _ in model.named_parameters()}
    for n in grad_off:
        torch.testing.assert_close(grad_on[n], grad_off[n], msg=lambda m: f"grad {n}: {m}")


def train_weights(tmp_path, name: str, *extra: str) -> dict:
    cfg = load_config(None, TINY + list(extra))
    run_dir = make_run_dir(None, name, tmp_path)
    trainer.train(cfg, run_dir, console=False, make_plots=False)
    return load_checkpoint(run_dir / "checkpoints" / "latest.pt")["model"]


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for n in a:
        assert torch.equal(a[n], b[n]), f"{n} differs"


def test_trainer_grad_checkpointing_equals_plain_training(tmp_path):
    plain = train_weights(tmp_path, "plain")
    ckpt = train_weights(tmp_path, "ckpt", "training.grad_checkpointing=true")
    for n in plain:
        torch.testing.assert_close(ckpt[n], plain[n], msg=lambda m: f"{n}: {m}")


def test_amp_is_off_on_cpu_and_equals_fp32(tmp_path):
    cfg = load_config(None, TINY + ["training.amp=true"])
    dtype, scaler = trainer.amp_setup(cfg, torch.device("cpu"))
    assert dtype is None and not scaler.is_enabled()
    assert_same_weights(train_weights(tmp_path, "amp", "training.amp=true"),
                        train_weights(tmp_path, "fp32", "training.amp=false"))


@pytest.mark.filterwarnings("ignore:torch.cuda.amp.GradScaler is enabled, but CUDA is not available")
@pytest.mark.parametrize("native_bf16, expected", [(True, torch.bfloat16), (False, torch.float16)])
def test_amp_dtype_choice_on_cuda(monkeypatch, native_bf16, expected):
    # The logic without a GPU: bf16 only where the GPU has it natively (emulated bf16 is slower than fp32).
    seen = {}

    def is_bf16_supported(including_emulation=True):
        seen["including_emulation"] = including_emulation
        return native_bf16 or including_emulation

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    cfg = load_config(None, TINY + ["training.amp=true"])
    dtype, _ = trainer.amp_setup(cfg, torch.device("cuda"))
    assert dtype == expected and seen["including_emulation"] is False
    assert trainer.amp_setup(load_config(None, TINY + ["training.amp=false"]), torch.device("cuda"))[0] is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (AMP runs only on CUDA)")
def test_amp_on_cuda_close_to_fp32_and_scaler_only_for_fp16():
    cfg = load_config(None, TINY + ["training.amp=true", "training.device=cuda"])
    device = torch.device("cuda")
    dtype, scaler = trainer.amp_setup(cfg, device)
    assert dtype in (torch.bfloat16, torch.float16)
    assert scaler.is_enabled() == (dtype == torch.float16)
    model = built("paraformer", sampling_ratio=0.0).to(device)
    b = {k: v.to(device) for k, v in toy_batch().items() if torch.is_tensor(v)}
    model.eval()  # no dropout: the two passes differ only in precision
    fp32 = model(b["feats"], b["feat_lens"], b["tokens"], b["token_lens"])["loss"]
    with torch.autocast("cuda", dtype=dtype):
        amp = model(b["feats"], b["feat_lens"], b["tokens"], b["token_lens"])["loss"]
    scaler.scale(amp).backward()
    assert amp.dtype == torch.float32  # losses are computed in fp32 (log_softmax(.float()))
    torch.testing.assert_close(amp, fp32, rtol=2e-2, atol=2e-2)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


class _FailsAt:
    """Stands in for a compiled module: raises at the first forward, or at the first backward."""

    def __init__(self, model: torch.nn.Module, where: str) -> None:
        self.model, self.where, self.calls = model, where, 0

    def __call__(self, *args):
        self.calls += 1
        if self.where == "forward":
            raise RuntimeError("simulated inductor failure at the first forward")
        losses = self.model(*args)
        return {**losses, "loss": _RaiseInBackward.apply(losses["loss"])}


class _RaiseInBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("simulated AOTAutograd failure compiling the backward")


@pytest.mark.parametrize("where", ["forward", "backward"])
def test_compile_failure_falls_back_to_eager_and_equals_eager(tmp_path, monkeypatch, where):
    eager = train_weights(tmp_path, "eager")
    fakes = []

    def failing_compile(model, *args, **kwargs):
        fakes.append(_FailsAt(model, where))
        return fakes[-1]

    monkeypatch.setattr(torch, "compile", failing_compile)
    with pytest.warns(RuntimeWarning, match="torch.compile failed.*training eagerly"):
        fallback = train_weights(tmp_path, "fallback", "training.compile=true")
    assert len(fakes) == 1 and fakes[0].calls == 1  # tried once, never used again
    assert_same_weights(fallback, eager)  # the probe left no trace: RNG, buffers and grads restored


def test_compile_success_trains_through_the_compiled_module(tmp_path, monkeypatch):
    eager = train_weights(tmp_path, "eager")
    calls = {"compile": 0, "forward": 0}

    def fake_compile(model, *args, **kwargs):
        calls["compile"] += 1

        def compiled(*a):
            calls["forward"] += 1
            return model(*a)

        return compiled

    monkeypatch.setattr(torch, "compile", fake_compile)
    weights = train_weights(tmp_path, "compiled", "training.compile=true")
    assert calls["compile"] == 1 and calls["forward"] == 1 + 3  # the probe, then 3 training steps
    assert_same_weights(weights, eager)
