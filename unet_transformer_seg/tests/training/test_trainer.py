"""The training loop: smoke run, exact resume, Ctrl-C, NaN stop, max_steps."""

import os
import signal
from pathlib import Path

import pytest
import torch

import src.training.trainer as trainer_mod
from src.training.runner import run_training
from src.training.trainer import INTERRUPTED_EXIT_CODE, TrainingDivergedError, train
from src.utils.checkpoint import load_checkpoint
from src.utils.config import load_config
from src.utils.logging import make_run_dir

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"


def tiny(*overrides):
    return load_config(TINY, list(overrides))


def run_dir(tmp_path, name):
    return make_run_dir(None, name, runs_root=tmp_path / "runs")


def interrupt_at(monkeypatch, step_to_stop: int, how: str = "signal"):
    """Ctrl-C while optimizer step ``step_to_stop`` is being computed (lr_at is called first in a step)."""
    real = trainer_mod.lr_at
    fired = []

    def lr_at(step, **kw):
        if step == step_to_stop and not fired:
            fired.append(step)
            if how == "signal":
                os.kill(os.getpid(), signal.SIGINT)  # what the terminal sends on Ctrl-C
            else:
                raise KeyboardInterrupt  # a second Ctrl-C lands mid-step
        return real(step, **kw)

    monkeypatch.setattr(trainer_mod, "lr_at", lr_at)


def test_smoke_50_steps_loss_decreases(tmp_path):
    cfg = tiny("data.train_size=80", "training.num_epochs=5", "training.learning_rate=5e-3", "model.base_channels=8")
    result = train(cfg, run_dir(tmp_path, "smoke"), console=False)
    assert result["status"] == "finished" and result["step"] == 50
    losses = [r["train_loss"] for r in result["history"]]
    assert len(losses) == 5
    assert losses[-1] < 0.8 * losses[0], losses
    for r in result["history"]:
        assert {"epoch", "step", "lr", "train_loss", "train_loss_ce", "train_loss_dice", "val_loss",
                "val_mean_dice", "val_mean_iou", "val_pixel_accuracy", "val_dice_circle"} <= set(r)


def test_run_folder_contents(tmp_path):
    rd = run_dir(tmp_path, "layout")
    result = train(tiny(), rd, console=False)
    for name in ("config.yaml", "train.log", "metrics.json", "results.csv", "checkpoints/best.pt",
                 "checkpoints/latest.pt", "plots/curves.png", "plots/predictions.png"):
        assert (rd / name).is_file(), name
    assert (rd / "results.csv").read_text().startswith("run_id,model_type,epoch,step,")
    ckpt = load_checkpoint(rd / "checkpoints" / "latest.pt")
    assert {"model", "optimizer", "scaler", "step", "epoch", "best_metric", "rng", "loader_generator",
            "config", "history"} <= set(ckpt)
    assert ckpt["step"] == result["step"] == 8 and ckpt["epoch"] == 2
    assert ckpt["config"]["model"]["base_channels"] == 4
    best = load_checkpoint(rd / "checkpoints" / "best.pt")
    assert best["best_metric"] == max(r["val_mean_dice"] for r in result["history"])


@pytest.mark.parametrize("stop_step,how,accum", [
    (5, "signal", 1),   # mid-epoch (4 steps per epoch)
    (3, "signal", 1),   # after an epoch's last step, before its validation
    (2, "raise", 1),    # KeyboardInterrupt inside a step: that step is redone
    (2, "signal", 2),   # gradient accumulation (2 steps per epoch)
])
def test_interrupt_then_resume_is_exact(tmp_path, monkeypatch, stop_step, how, accum):
    overrides = [f"training.grad_accum_steps={accum}", "model.transformer.dropout=0.1",
                 "model.name=unet_transformer", "data.scale_range=[0.8, 1.2]", "data.color_jitter=0.2"]
    cfg = tiny(*overrides)
    full = train(cfg, run_dir(tmp_path, "full"), console=False)

    interrupt_at(monkeypatch, stop_step, how)
    rd = run_dir(tmp_path, "cut")
    first = train(tiny(*overrides), rd, console=False)
    assert first["status"] == "interrupted"
    latest = rd / "checkpoints" / "latest.pt"
    saved = load_checkpoint(latest)
    assert saved["step"] == (stop_step + 1 if how == "signal" else stop_step)
    monkeypatch.undo()

    resumed = train(tiny(*overrides), rd, resume=latest, console=False)
    assert resumed["status"] == "finished" and resumed["step"] == full["step"]
    a = load_checkpoint(full["latest_path"])["model"]
    b = load_checkpoint(resumed["latest_path"])["model"]
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-6, rtol=0), k
    keys = ["epoch", "step", "train_loss", "val_loss", "val_mean_dice", "val_pixel_accuracy"]
    for ra, rb in zip(full["history"], resumed["history"], strict=True):
        for k in keys:
            assert ra[k] == pytest.approx(rb[k], abs=1e-6), (k, ra[k], rb[k])


def test_ctrl_c_exit_code_and_message(tmp_path, monkeypatch, capsys):
    interrupt_at(monkeypatch, 1)
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(TINY.read_text())
    code = run_training(config=str(cfg_path), run_name="cc", runs_dir=tmp_path / "runs")
    assert code == INTERRUPTED_EXIT_CODE == 130
    log = (tmp_path / "runs" / "cc" / "train.log").read_text()
    assert "--resume" in log and "latest.pt" in log
    assert load_checkpoint(tmp_path / "runs" / "cc" / "checkpoints" / "latest.pt")["step"] == 2
    monkeypatch.undo()
    # --resume (through runs/latest) continues in the same run folder with the stored config.
    code = run_training(config=None, run_name=None, runs_dir=tmp_path / "runs",
                        resume=str(tmp_path / "runs" / "latest" / "checkpoints" / "latest.pt"),
                        overrides=["training.num_epochs=3"])
    assert code == 0
    final = load_checkpoint(tmp_path / "runs" / "cc" / "checkpoints" / "latest.pt")
    assert final["step"] == 12 and final["epoch"] == 3 and final["config"]["training"]["num_epochs"] == 3
    assert [r["epoch"] for r in final["history"]] == [1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["cc", "latest"]


def test_nan_loss_stops_naming_step_and_checkpoint(tmp_path, monkeypatch):
    real_build = trainer_mod.build_loss

    def build_loss(*a, **kw):
        inner = real_build(*a, **kw)
        calls = []

        def loss(logits, target):
            out = inner(logits, target)
            if logits.requires_grad:  # training calls only
                calls.append(1)
                if len(calls) == 5:  # step 4 = first step of epoch 2 (4 steps per epoch)
                    out = {**out, "loss": out["loss"] * float("nan")}
            return out

        return loss

    monkeypatch.setattr(trainer_mod, "build_loss", build_loss)
    rd = run_dir(tmp_path, "nan")
    with pytest.raises(TrainingDivergedError) as e:
        train(tiny(), rd, console=False)
    msg = str(e.value)
    assert "nan" in msg and "step 4" in msg and str(rd / "checkpoints" / "latest.pt") in msg


def test_max_steps_caps_training(tmp_path):
    result = train(tiny("training.max_steps=3"), run_dir(tmp_path, "cap"), console=False)
    assert result["step"] == 3 and len(result["history"]) == 1 and result["history"][0]["step"] == 3


def _final_weights(result):
    return load_checkpoint(result["latest_path"])["model"]


def test_grad_accumulation_equals_one_big_batch(tmp_path):
    """2 micro-batches of 4 == 1 batch of 8 for a loss that is a mean over pixels (CE) and a
    model without batch statistics (GroupNorm): the accumulated gradient is the same."""
    common = ["model.norm=group", "loss.name=ce", "training.max_steps=2", "training.max_grad_norm=0"]
    big = train(tiny(*common, "training.batch_size=8"), run_dir(tmp_path, "big"), console=False)
    acc = train(tiny(*common, "training.batch_size=4", "training.grad_accum_steps=2"),
                run_dir(tmp_path, "acc"), console=False)
    a, b = _final_weights(big), _final_weights(acc)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5, rtol=0), k
    assert big["history"][0]["train_loss"] == pytest.approx(acc["history"][0]["train_loss"], abs=1e-5)


def test_channels_last_matches_default_layout(tmp_path, monkeypatch):
    """The trainer's channels_last path computes the same losses and gradients as NCHW.

    The two layouts use different conv kernels, so gradients agree only up to float
    rounding (~1e-7 relative). Under AdamW that rounding can flip the sign of a
    near-zero gradient, and the first Adam step moves such a weight by +-lr either way
    (seen: 8 of 512 weights 3e-4 apart after two steps on an AMD EPYC). Plain SGD moves
    each weight by lr * grad, so the weights compare the gradients themselves.
    """
    monkeypatch.setattr(trainer_mod, "build_optimizer", lambda model, cfg: torch.optim.SGD(model.parameters(), lr=0.1))
    common = ["training.max_steps=2"]
    plain = train(tiny(*common, "training.channels_last=false"), run_dir(tmp_path, "nchw"), console=False)
    cl = train(tiny(*common, "training.channels_last=true"), run_dir(tmp_path, "nhwc"), console=False)
    a, b = _final_weights(plain), _final_weights(cl)
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-6, rtol=1e-5), k
    assert plain["history"][0]["train_loss"] == pytest.approx(cl["history"][0]["train_loss"], rel=1e-5)


def test_channels_last_auto_is_on_for_the_cpu_only():
    assert trainer_mod.use_channels_last("auto", torch.device("cpu"))
    assert not trainer_mod.use_channels_last("auto", torch.device("cuda"))
    assert trainer_mod.use_channels_last(True, torch.device("cuda"))
    assert not trainer_mod.use_channels_last(False, torch.device("cpu"))


def test_resume_with_more_epochs_continues_the_lr_without_a_jump(tmp_path, monkeypatch):
    """Issue #15 defect 9: the old code recomputed the cosine over the new horizon (lr x11)."""
    seen = {}
    real = trainer_mod.lr_at

    def lr_at(step, **kw):
        seen[step] = real(step, **kw)
        return seen[step]

    monkeypatch.setattr(trainer_mod, "lr_at", lr_at)
    common = ("data.val_size=4", "training.num_vis=0", "training.warmup_steps=1")
    first = train(tiny("training.num_epochs=1", *common), run_dir(tmp_path, "a"), console=False)
    last_lr = seen[3]  # 4 steps: the cosine has reached the floor, base_lr * min_lr_ratio
    assert last_lr == pytest.approx(2e-3 * 0.01)
    seen.clear()
    longer = tiny("training.num_epochs=3", *common)
    result = train(longer, run_dir(tmp_path, "b"), resume=first["latest_path"], console=False)
    assert result["step"] == 12
    assert seen[4] == pytest.approx(last_lr)  # the old code gave lr_at(4 of 12) = 0.8 * base_lr
    assert all(seen[s] <= last_lr * (1 + 1e-9) for s in range(4, 12))
    assert load_checkpoint(result["latest_path"])["schedule"] == {"total_steps": 12, "restart_step": 4,
                                                                   "restart_lr": pytest.approx(last_lr)}
