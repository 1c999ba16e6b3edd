"""training.fused_optimizer: torch's fused AdamW kernel is the same update as its per-tensor loop.

The fused kernel reorders a few float operations, so the two agree to rounding, not bit for
bit; a resumed run continues exactly either way (each run keeps one kernel throughout).
"""

import pytest
import torch

import src.training.trainer as trainer
from src.utils.config import ConfigError, load_config

from tests.models.tiny import tiny_config, tiny_model
from tests.training.test_speed_paths import TINY, train_weights

CPU = torch.device("cpu")
needs_fused = pytest.mark.skipif(not trainer.fused_adamw_supported(CPU), reason="this torch has no fused AdamW on the CPU (torch < 2.4)")


def optimizer_for(model: torch.nn.Module, fused) -> torch.optim.Optimizer:
    cfg = tiny_config("paraformer")
    cfg.training.fused_optimizer = fused
    cfg.training.weight_decay = 0.1  # a visible decay term on the matrices
    return trainer.build_optimizer(model, cfg)


@needs_fused
def test_fused_adamw_follows_the_loop_on_the_same_gradients():
    # Both optimizers see the same gradient sequence, so only the update rule is compared.
    loop_model, fused_model = tiny_model("paraformer"), tiny_model("paraformer")
    loop_opt, fused_opt = optimizer_for(loop_model, False), optimizer_for(fused_model, True)
    assert loop_opt.defaults["fused"] is False and fused_opt.defaults["fused"] is True
    g = torch.Generator().manual_seed(0)
    start = {n: p.detach().clone() for n, p in loop_model.named_parameters()}
    for _ in range(30):
        for (_, a), (_, b) in zip(loop_model.named_parameters(), fused_model.named_parameters()):
            grad = torch.randn(a.shape, generator=g)
            a.grad, b.grad = grad.clone(), grad.clone()
        loop_opt.step()
        fused_opt.step()
    for (n, a), (_, b) in zip(loop_model.named_parameters(), fused_model.named_parameters()):
        moved = (a.detach() - start[n]).abs().max()
        assert moved > 1e-3, f"{n} did not move: the comparison would be empty"
        torch.testing.assert_close(b.detach(), a.detach(), rtol=1e-5, atol=1e-6, msg=lambda m: f"{n}: {m}")


@needs_fused
def test_trainer_fused_and_loop_reach_the_same_weights(tmp_path):
    loop = train_weights(tmp_path, "loop", "training.fused_optimizer=false")
    fused = train_weights(tmp_path, "fused", "training.fused_optimizer=true")
    start = train_weights(tmp_path, "start", "training.fused_optimizer=false", "training.learning_rate=0")
    assert loop.keys() == fused.keys() == start.keys()
    assert any(not torch.equal(fused[n], loop[n]) for n in loop), "bit-identical: was the fused kernel used at all?"
    for n in loop:
        if n.endswith("w_k.bias"):
            # The key bias adds q . b_k to every logit of a query alike, and softmax ignores a
            # shift: its gradient is zero in exact arithmetic, rounding noise in practice, and
            # Adam turns noise into steps of either sign. Both runs must leave it near its start.
            for run in (loop, fused):
                assert (run[n] - start[n]).abs().max() < 1e-3, n
            continue
        assert (loop[n] - start[n]).abs().max() > 1e-4, f"{n} did not train: the comparison would be empty"
        torch.testing.assert_close(fused[n], loop[n], rtol=1e-5, atol=1e-6, msg=lambda m: f"{n}: {m}")


@pytest.mark.parametrize("supported", [True, False])
def test_auto_picks_fused_exactly_where_supported(monkeypatch, supported):
    monkeypatch.setattr(trainer, "fused_adamw_supported", lambda device: supported)
    assert optimizer_for(tiny_model("ctc"), "auto").defaults["fused"] is supported
    assert optimizer_for(tiny_model("ctc"), False).defaults["fused"] is False


def test_fused_true_where_unsupported_is_a_config_error(monkeypatch):
    monkeypatch.setattr(trainer, "fused_adamw_supported", lambda device: False)
    with pytest.raises(ConfigError, match="training.fused_optimizer=true.*auto or false"):
        optimizer_for(tiny_model("ctc"), True)


def test_first_log_line_says_which_kernel(tmp_path):
    from src.utils.logging import make_run_dir

    cfg = load_config(None, TINY + ["training.fused_optimizer=false", "training.max_steps=1"])
    run_dir = make_run_dir(None, "log", tmp_path)
    trainer.train(cfg, run_dir, console=False, make_plots=False)
    first = (run_dir / "train.log").read_text().splitlines()[0]
    assert "fused_adamw=False" in first
