"""Speed paths change speed, never results: each flag against the plain path, on whole models and the trainer.

- attention_impl sdpa vs math: loss and every gradient of each whole model.
- training.grad_checkpointing: loss and every gradient equal, dropout and GLM sampling on.
- training.amp: CPU bf16 autocast against fp32 (outputs, gradients, a short training run, the
  trainer's log line); the choice logic itself is in tests/utils/test_amp.py.
- training.compile: wraps the model in torch.compile; a failure at the first forward or backward
  falls back to eager with a warning, and the run equals an eager run bit for bit.
"""

import pytest
import torch

import src.training.trainer as trainer
from src.models import build_model
from src.utils.amp import resolve_amp
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
    "training.amp=false",  # fp32: these tests compare runs bit for bit (bf16 has its own tests)
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


# bf16 vs fp32 tolerances. bf16 keeps 8 significant bits: rounding a value costs a relative
# error of at most u = 2**-9 ~ 0.002. Under autocast each matmul rounds its inputs to bf16 and
# accumulates in fp32, so every matmul-like stage adds ~u to the relative error of its output
# (observed: the 2-layer tiny encoder's output is off by 0.005-0.006 in norm, ~3u). The bounds
# below leave ~5x margin over what was measured; they still fail at once if a stage runs in
# fp16 (overflow), drops a mask, or if the loss itself is taken in bf16 (a rounded log-prob).
ENCODER_RTOL = 0.03  # norm-wise relative error of the encoder output (~16u for 3 stages)
LOSS_RTOL, LOSS_ATOL = 1e-2, 1e-2  # losses are fp32 means over tokens: errors average out; the
# MAE term |sum(alpha) - N| is a difference, its error is absolute (~u * sum(alpha)), hence the atol.
GRAD_RTOL = 0.05  # norm-wise relative error of all gradients together (the backward doubles the stages)


def forward_fp32_and_bf16(name: str, seed: int = 0) -> tuple[dict, dict, torch.nn.Module]:
    model = built(name, sampling_ratio=0.0)  # GLM off: its argmax could flip on a last-bit difference
    b = toy_batch(seed=seed)
    out = {}
    for tag, amp_setting in (("fp32", False), ("bf16", True)):
        choice = resolve_amp(amp_setting, torch.device("cpu"))  # true: bf16 even where emulated
        model.train().zero_grad()
        torch.manual_seed(7)
        with choice.autocast():
            enc, _ = model.encoder(b["feats"], b["feat_lens"])  # (B, T', D)
            losses = model(b["feats"], b["feat_lens"], b["tokens"], b["token_lens"])
        losses["loss"].backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        out[tag] = {"enc": enc.detach(), "losses": {k: v.detach() for k, v in losses.items()}, "grads": grads}
    return out["fp32"], out["bf16"], model


@pytest.mark.parametrize("name", MODELS)
def test_cpu_bf16_forward_and_grads_close_to_fp32(name):
    fp32, bf16, model = forward_fp32_and_bf16(name)
    assert bf16["enc"].dtype == torch.bfloat16  # the bf16 path really ran (not fp32 twice) ...
    assert not torch.equal(bf16["enc"].float(), fp32["enc"])  # ... and rounded something
    rel = float((bf16["enc"].float() - fp32["enc"]).norm() / fp32["enc"].norm())
    assert rel < ENCODER_RTOL, f"encoder output relative error {rel:.4f} >= {ENCODER_RTOL}"
    assert fp32["losses"].keys() == bf16["losses"].keys()
    for k, v in bf16["losses"].items():
        assert v.dtype == torch.float32, f"loss term {k} is {v.dtype}: losses must be computed in fp32"
        torch.testing.assert_close(v, fp32["losses"][k], rtol=LOSS_RTOL, atol=LOSS_ATOL, msg=f"loss term {k}")
    # master weights and their gradients stay fp32 (autocast casts copies for the matmuls)
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32
               for p in model.parameters() if p.grad is not None)
    g32, g16 = fp32["grads"], bf16["grads"]
    assert torch.isfinite(g16).all()
    grel = float((g16 - g32).norm() / g32.norm())
    assert grel < GRAD_RTOL, f"gradient relative error {grel:.4f} >= {GRAD_RTOL}"


def overfit_losses(name: str, amp_setting: bool, steps: int = 40) -> list[float]:
    """AdamW on one toy batch, as in the trainer's step, in fp32 or bf16 autocast."""
    model = built(name, sampling_ratio=0.0).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    choice = resolve_amp(amp_setting, torch.device("cpu"))
    b = toy_batch()
    losses = []
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        with choice.autocast():
            loss = model(b["feats"], b["feat_lens"], b["tokens"], b["token_lens"])["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


# Trajectories drift apart step by step (each bf16 step differs by ~u relative and AdamW
# normalises the differences), so the runs are compared where it matters: both must learn
# (loss below half its start) and end at the same loss within 10 % of the fp32 run's decrease.
TRAIN_LOSS_TOL = 0.10


@pytest.mark.parametrize("name", MODELS)
def test_short_bf16_training_reaches_the_fp32_loss(name):
    steps = 40 if name == "paraformer" else 20  # CIF's fire count makes the Paraformer's loss jumpier early on
    fp32, bf16 = overfit_losses(name, False, steps), overfit_losses(name, True, steps)
    assert fp32[0] == pytest.approx(bf16[0], rel=LOSS_RTOL)  # same start (same weights)
    for run in (fp32, bf16):
        assert run[-1] < 0.5 * run[0], f"did not learn: {run[0]:.3f} -> {run[-1]:.3f}"
    drop = fp32[0] - fp32[-1]
    assert abs(bf16[-1] - fp32[-1]) <= TRAIN_LOSS_TOL * drop, (fp32[-1], bf16[-1], drop)


def test_trainer_bf16_on_cpu_logs_it_and_keeps_fp32_weights(tmp_path, monkeypatch):
    # auto on a CPU that reports amx_bf16 (mocked, so this runs the same on any CPU)
    import src.utils.amp as amp_mod

    monkeypatch.setattr(amp_mod, "read_cpuinfo", lambda: "flags : fpu avx512f avx512_bf16 amx_bf16 amx_tile\n")
    cfg = load_config(None, TINY + ["training.amp=auto"])
    choice, scaler = trainer.amp_setup(cfg, torch.device("cpu"))
    assert choice.dtype == torch.bfloat16 and not scaler.is_enabled()
    run_dir = make_run_dir(None, "bf16", tmp_path)
    trainer.train(cfg, run_dir, console=False, make_plots=False)
    first = (run_dir / "train.log").read_text().splitlines()[0]
    assert "amp=bf16 (cpu has amx_bf16)" in first, first
    state = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    assert all(v.dtype == torch.float32 for v in state["model"].values() if v.is_floating_point())
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    # ... and without native bf16, auto stays fp32 and says why
    monkeypatch.setattr(amp_mod, "read_cpuinfo", lambda: "flags : fpu sse2 avx2\n")
    assert trainer.amp_setup(cfg, torch.device("cpu"))[0].describe().startswith("fp32 (cpu has no native bf16")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_amp_on_cuda_close_to_fp32_and_scaler_only_for_fp16():
    cfg = load_config(None, TINY + ["training.amp=true", "training.device=cuda"])
    device = torch.device("cuda")
    choice, scaler = trainer.amp_setup(cfg, device)
    assert choice.dtype in (torch.bfloat16, torch.float16)
    assert scaler.is_enabled() == (choice.dtype == torch.float16)
    model = built("paraformer", sampling_ratio=0.0).to(device)
    b = {k: v.to(device) for k, v in toy_batch().items() if torch.is_tensor(v)}
    model.eval()  # no dropout: the two passes differ only in precision
    fp32 = model(b["feats"], b["feat_lens"], b["tokens"], b["token_lens"])["loss"]
    with choice.autocast():
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


def test_trainer_warns_about_sdpa_under_cpu_bf16(tmp_path, monkeypatch):
    import src.utils.amp as amp_mod

    monkeypatch.setattr(amp_mod, "read_cpuinfo", lambda: "flags : fpu avx512f avx512_bf16 amx_bf16 amx_tile\n")
    cfg = load_config(None, TINY + ["training.amp=auto", "model.attention_impl=sdpa", "training.max_steps=1"])
    run_dir = make_run_dir(None, "sdpa_bf16", tmp_path)
    trainer.train(cfg, run_dir, console=False, make_plots=False)
    lines = (run_dir / "train.log").read_text().splitlines()
    assert "amp=bf16" in lines[0]
    assert "warning: model.attention_impl=sdpa under CPU bf16" in lines[1] and "attention_impl=math" in lines[1]
