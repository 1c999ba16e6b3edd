"""CPU bf16 autocast against fp32: model outputs and gradients, a short training run, the logged choice.

These run on any CPU: where the CPU has no native bf16, ``training.amp=true`` still
forces bf16 (emulated, slower, same numbers), so the equivalence is checked everywhere.

Why these tolerances. bf16 keeps 8 significant bits, so each rounding of an activation or
weight costs up to 2**-9 = 0.2 % relative; the products are accumulated in fp32 by oneDNN,
so the error does not grow with the reduction length, but it does compound over the
~10 conv/norm layers of a tiny U-Net. Measured on the tiny models (3 seeds, Sapphire
Rapids): logits 0.85-1.1 % apart in relative L2, argmax equal on >= 99.3 % of the pixels
(the rest are near-ties of a random-init model), loss within 2e-4, the whole gradient
vector at cosine >= 0.988. The bounds below leave 2-3x headroom over those numbers and are
still far below what a wrong cast would give (a bf16 loss or softmax, fp16 overflow, a
missing fp32 norm shows up as percent-level loss or gradient errors).
"""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from src.losses import build_loss
from src.models import build_model
from src.training.trainer import train
from src.utils import amp as amp_mod
from src.utils.amp import keep_norms_fp32
from src.utils.config import load_config
from src.utils.logging import make_run_dir

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"
EPYC = "flags\t\t: fpu sse2 avx2 fma\n"
SPR = "flags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n"


def _outputs_and_grads(name: str, bf16: bool):
    cfg = load_config(TINY, [f"model.name={name}"])
    torch.manual_seed(0)
    model = keep_norms_fp32(build_model(cfg.model)).train()
    if name == "unet_transformer":
        torch.nn.init.normal_(model.bottleneck.proj_out.weight, std=0.1)  # zero-init: let attention reach the loss
    g = torch.Generator().manual_seed(1)
    images = torch.randn(4, 3, 32, 32, generator=g)  # (B, 3, H, W)
    masks = torch.randint(0, cfg.model.num_classes, (4, 32, 32), generator=g)  # (B, H, W)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(images)  # (B, K, H, W)
    loss = build_loss(cfg.loss, cfg.model.num_classes, cfg.data.ignore_index)(logits.float(), masks)
    loss["loss"].backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters()])
    return logits, {k: v.detach() for k, v in loss.items()}, grads


@pytest.mark.parametrize("name", ["unet", "unet_transformer"])
def test_bf16_forward_and_backward_match_fp32(name):
    ref, ref_loss, ref_grad = _outputs_and_grads(name, bf16=False)
    out, loss, grad = _outputs_and_grads(name, bf16=True)
    assert out.dtype == torch.bfloat16  # autocast really ran (the convs in bf16)
    assert loss["loss"].dtype == torch.float32  # the loss did not
    rel = (out.float() - ref).norm() / ref.norm()
    assert 0 < rel < 0.03, f"bf16 logits {rel:.4f} apart in relative L2"
    assert (out.argmax(1) == ref.argmax(1)).float().mean() >= 0.98
    for k in ref_loss:
        assert abs(loss[k] - ref_loss[k]) < 1e-3, k
    assert F.cosine_similarity(grad, ref_grad, dim=0) > 0.95


def _run(tmp_path, name, *overrides):
    cfg = load_config(TINY, ["model.name=unet", "data.val_size=8", *overrides])
    run_dir = make_run_dir(None, name, runs_root=tmp_path / "runs")
    return train(cfg, run_dir, console=False), run_dir


def test_short_bf16_training_reaches_the_fp32_loss(tmp_path, monkeypatch):
    """8 AdamW steps (2 epochs) from the same init and data: bf16 lands on fp32's losses.

    Both runs use ``training.amp=auto``; the mocked /proc/cpuinfo makes it pick fp32 (an
    EPYC without bf16) or bf16 (Sapphire Rapids), so the choice through the trainer and
    its first log line are tested too. bf16 on a real CPU without it is emulated: same
    numbers, slower. Measured gap: under 0.3 % of the loss per epoch; the bound (2 %) is
    a quarter of the ~8 % the train loss falls between the two epochs, so a bf16 run that
    learned less, or diverged, fails.
    """
    fast = ["training.amp=auto", "training.learning_rate=1e-2", "training.warmup_steps=0"]
    monkeypatch.setattr(amp_mod, "read_cpuinfo", lambda: EPYC)
    fp32, fp32_dir = _run(tmp_path, "fp32", *fast)
    monkeypatch.setattr(amp_mod, "read_cpuinfo", lambda: SPR)
    bf16, bf16_dir = _run(tmp_path, "bf16", *fast)
    first32 = (fp32_dir / "train.log").read_text().splitlines()[0]
    first16 = (bf16_dir / "train.log").read_text().splitlines()[0]
    assert "amp=fp32 (cpu has no native bf16" in first32 and "channels_last" in first32
    assert "amp=bf16 (cpu has amx_bf16)" in first16
    h32, h16 = fp32["history"], bf16["history"]
    assert h32[-1]["train_loss"] < 0.95 * h32[0]["train_loss"]  # the run learns: the comparison means something
    for a, b in zip(h32, h16):
        for key in ("train_loss", "val_loss"):
            assert b[key] == pytest.approx(a[key], rel=0.02), (a["epoch"], key)


def test_sdpa_under_cpu_bf16_logs_a_warning_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(amp_mod, "read_cpuinfo", lambda: SPR)
    cfg = load_config(TINY, ["model.name=unet_transformer", "model.attention_impl=sdpa", "training.amp=auto",
                             "data.val_size=8", "training.max_steps=1"])
    run_dir = make_run_dir(None, "sdpa_bf16", runs_root=tmp_path / "runs")
    train(cfg, run_dir, console=False)
    lines = (run_dir / "train.log").read_text().splitlines()
    assert "amp=bf16" in lines[0]
    assert "warning: model.attention_impl=sdpa under CPU bf16" in lines[1] and "attention_impl=math" in lines[1]
