"""training.fused_optimizer: torch's fused AdamW kernel is the same update as its per-tensor loop.

The fused kernel reorders a few float operations, so the two agree to rounding, not bit for
bit; a resumed run continues exactly either way (each run keeps one kernel throughout).
"""

from pathlib import Path

import pytest
import torch

import src.training.trainer as trainer
from src.models import build_model
from src.utils.checkpoint import load_checkpoint
from src.utils.config import ConfigError, load_config
from src.utils.logging import make_run_dir

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"
CPU = torch.device("cpu")
needs_fused = pytest.mark.skipif(not trainer.fused_adamw_supported(CPU), reason="this torch has no fused AdamW on the CPU (torch < 2.4)")


def tiny(*overrides):
    return load_config(TINY, list(overrides))


def tiny_model(name: str = "unet"):
    torch.manual_seed(0)
    return build_model(tiny(f"model.name={name}").model)


def optimizer_for(model, fused):
    cfg = tiny(f"training.fused_optimizer={str(fused).lower()}", "training.weight_decay=0.1")
    return trainer.build_optimizer(model, cfg)


@needs_fused
@pytest.mark.parametrize("name", ["unet", "unet_transformer"])
def test_fused_adamw_follows_the_loop_on_the_same_gradients(name):
    # Both optimizers see the same gradient sequence, so only the update rule is compared.
    loop_model, fused_model = tiny_model(name), tiny_model(name)
    loop_opt, fused_opt = optimizer_for(loop_model, False), optimizer_for(fused_model, True)
    assert loop_opt.defaults["fused"] is False and fused_opt.defaults["fused"] is True
    g = torch.Generator().manual_seed(0)
    start = {n: p.detach().clone() for n, p in loop_model.named_parameters()}
    for _ in range(30):
        for a, b in zip(loop_model.parameters(), fused_model.parameters()):
            grad = torch.randn(a.shape, generator=g)
            a.grad, b.grad = grad.clone(), grad.clone()
        loop_opt.step()
        fused_opt.step()
    for (n, a), (_, b) in zip(loop_model.named_parameters(), fused_model.named_parameters()):
        assert (a.detach() - start[n]).abs().max() > 1e-3, f"{n} did not move: the comparison would be empty"
        torch.testing.assert_close(b.detach(), a.detach(), rtol=1e-5, atol=1e-6, msg=lambda m: f"{n}: {m}")


def trained(tmp_path, name, *overrides):
    result = trainer.train(tiny(*overrides), make_run_dir(None, name, runs_root=tmp_path / "runs"), console=False)
    return load_checkpoint(result["latest_path"])["model"]


@needs_fused
def test_trainer_fused_and_loop_reach_the_same_weights(tmp_path):
    loop = trained(tmp_path, "loop", "training.fused_optimizer=false")
    fused = trained(tmp_path, "fused", "training.fused_optimizer=true")
    start = trained(tmp_path, "start", "training.fused_optimizer=false", "training.learning_rate=0")
    assert loop.keys() == fused.keys() == start.keys()
    assert any(not torch.equal(fused[n], loop[n]) for n in loop), "bit-identical: was the fused kernel used at all?"
    for n in loop:
        if loop[n].is_floating_point() and "running_" not in n:  # a parameter: it must have trained
            assert (loop[n] - start[n]).abs().max() > 1e-4, f"{n} did not train: the comparison would be empty"
        torch.testing.assert_close(fused[n], loop[n], rtol=1e-4, atol=1e-5, msg=lambda m: f"{n}: {m}")


@pytest.mark.parametrize("supported", [True, False])
def test_auto_picks_fused_exactly_where_supported(monkeypatch, supported):
    monkeypatch.setattr(trainer, "fused_adamw_supported", lambda device: supported)
    assert optimizer_for(tiny_model(), "auto").defaults["fused"] is supported
    assert optimizer_for(tiny_model(), False).defaults["fused"] is False


def test_fused_true_where_unsupported_is_a_config_error(monkeypatch):
    monkeypatch.setattr(trainer, "fused_adamw_supported", lambda device: False)
    with pytest.raises(ConfigError, match="training.fused_optimizer=true.*auto or false"):
        optimizer_for(tiny_model(), True)


def test_first_log_line_says_which_kernel(tmp_path):
    run_dir = make_run_dir(None, "log", runs_root=tmp_path / "runs")
    trainer.train(tiny("training.fused_optimizer=false", "training.max_steps=1"), run_dir, console=False)
    assert "fused_adamw=False" in (run_dir / "train.log").read_text()
