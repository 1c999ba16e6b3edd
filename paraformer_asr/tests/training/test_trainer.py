"""Trainer: loss decreases, exact resume after Ctrl-C, NaN stop. Tiny configs, CPU, seconds each."""

import math
import os
import signal

import pytest
import torch

import src.training.trainer as trainer
from src.utils.checkpoint import load_checkpoint
from src.utils.config import load_config
from src.utils.logging import make_run_dir

TINY = [
    "model.d_model=32",
    "model.encoder.num_layers=1",
    "model.encoder.num_heads=2",
    "model.encoder.ffn_dim=64",
    "model.decoder.num_layers=1",
    "model.decoder.num_heads=2",
    "model.decoder.ffn_dim=64",
    "data.feat_dim=16",
    "data.max_words=2",
    "data.val_size=8",
    "data.test_size=8",
    "training.batch_size=8",
    "training.warmup_steps=5",
    "training.device=cpu",
    "training.log_every=1000",
    "training.amp=false",  # fp32: these tests compare runs bit for bit (bf16 has its own tests)
]


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny models gain nothing from intra-op threads, and on a shared CPU the spin-waiting of
    # two threads makes these runs ~10x slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_cfg(*extra):
    return load_config(None, TINY + list(extra))


def test_loss_decreases_over_50_steps(tmp_path):
    cfg = tiny_cfg("data.train_size=80", "training.num_epochs=5", "training.learning_rate=3e-3")
    run_dir = make_run_dir(None, "smoke", tmp_path)
    trainer.train(cfg, run_dir, console=False)
    history = load_checkpoint(run_dir / "checkpoints" / "latest.pt")["history"]
    assert [r["step"] for r in history] == [10, 20, 30, 40, 50]
    first, last = history[0]["train_loss"], history[-1]["train_loss"]
    assert last < 0.7 * first, (first, last)
    for key in ("train_att", "train_mae", "train_ctc", "val_loss", "cer", "token_accuracy", "sequence_accuracy"):
        assert key in history[-1]
    assert (run_dir / "checkpoints" / "best.pt").exists()
    assert (run_dir / "plots" / "curves.png").exists() and (run_dir / "plots" / "cif.png").exists()
    assert (run_dir / "results.csv").read_text().startswith("run_id,model_type,epoch,step,")


@pytest.mark.parametrize("interrupt_step", [2, 5])
def test_interrupted_then_resumed_run_matches_uninterrupted(tmp_path, monkeypatch, interrupt_step):
    # dropout and GLM sampling on, so the RNG state must be restored exactly too
    cfg = tiny_cfg("data.train_size=32", "training.num_epochs=2", "model.encoder.dropout=0.2")
    full_dir = make_run_dir(None, "full", tmp_path)
    trainer.train(cfg, full_dir, console=False, make_plots=False)

    real_lr_at = trainer.lr_at

    def lr_with_ctrl_c(step, tc, total):
        if step == interrupt_step:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does; the loop stops after this step
        return real_lr_at(step, tc, total)

    cut_dir = make_run_dir(None, "cut", tmp_path)
    monkeypatch.setattr(trainer, "lr_at", lr_with_ctrl_c)
    with pytest.raises(trainer.TrainingInterrupted) as info:
        trainer.train(cfg, cut_dir, console=False, make_plots=False)
    monkeypatch.setattr(trainer, "lr_at", real_lr_at)
    saved = load_checkpoint(info.value.checkpoint)
    assert saved["step"] == interrupt_step + 1
    trainer.train(cfg, cut_dir, resume=info.value.checkpoint, console=False, make_plots=False)

    a = load_checkpoint(full_dir / "checkpoints" / "latest.pt")
    b = load_checkpoint(cut_dir / "checkpoints" / "latest.pt")
    assert a["step"] == b["step"] == 8
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), f"{name} differs after resume"


def test_nan_loss_stops_naming_step_and_checkpoint(tmp_path, monkeypatch):
    real_build = trainer.build_model

    def build_with_nan(cfg, vocab_size, input_dim):
        model = real_build(cfg, vocab_size, input_dim)
        calls = {"n": 0}
        forward = model.forward

        def nan_forward(*args, **kwargs):
            out = forward(*args, **kwargs)
            calls["n"] += model.training
            if model.training and calls["n"] == 3:  # the first batch of epoch 2 = step 2 (0-based)
                out = {**out, "loss": out["loss"] * float("nan")}
            return out

        model.forward = nan_forward
        return model

    monkeypatch.setattr(trainer, "build_model", build_with_nan)
    cfg = tiny_cfg("data.train_size=16", "training.num_epochs=3")  # 2 steps per epoch: the NaN comes in epoch 2
    run_dir = make_run_dir(None, "nan", tmp_path)
    with pytest.raises(FloatingPointError) as info:
        trainer.train(cfg, run_dir, console=False, make_plots=False)
    msg = str(info.value)
    assert "at step 2" in msg and "latest.pt" in msg and "learning_rate" in msg


def test_grad_accumulation_steps_once_per_group(tmp_path):
    # 5 batches of 8 with 2 micro-batches per step: steps after batches 2, 4 and the last one
    cfg = tiny_cfg("data.train_size=40", "training.num_epochs=1", "training.grad_accum_steps=2")
    run_dir = make_run_dir(None, "accum", tmp_path)
    row = trainer.train(cfg, run_dir, console=False, make_plots=False)
    assert row["step"] == 3
    assert load_checkpoint(run_dir / "checkpoints" / "latest.pt")["step"] == 3


def test_max_steps_caps_training_mid_epoch(tmp_path):
    cfg = tiny_cfg("data.train_size=40", "training.num_epochs=3", "training.max_steps=3")
    run_dir = make_run_dir(None, "cap", tmp_path)
    row = trainer.train(cfg, run_dir, console=False, make_plots=False)
    state = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    assert row["step"] == 3 and state["step"] == 3
    assert (state["epoch"], state["batch_in_epoch"]) == (0, 3)  # resumable from the 4th batch of epoch 1


def test_loss_values_equal_a_float_per_term():
    # The one-sync path of the loop gives exactly what float() of each term gives, NaN/Inf included.
    losses = {"loss": torch.tensor(1.2345678, requires_grad=True) * 3, "att": torch.tensor(float("nan")),
              "mae": torch.tensor(0.1, dtype=torch.bfloat16), "ctc": torch.tensor(float("inf"))}
    got = trainer.loss_values(losses)
    assert list(got) == list(losses)
    for k, v in losses.items():
        want = float(v.detach())
        assert (got[k] == want) or (math.isnan(got[k]) and math.isnan(want)), (k, got[k], want)


def test_ctc_warmup_trains_the_encoder_alone_then_everything(tmp_path):
    # 5 steps per epoch; the first 5 steps (epoch 1) are CTC only: predictor and decoder are
    # left out of the graph, so their weights stay at initialisation, while the encoder moves.
    cfg = tiny_cfg("data.train_size=40", "training.num_epochs=2", "training.ctc_warmup_steps=5")
    run_dir = make_run_dir(None, "warm", tmp_path)
    trainer.seed_everything(cfg.training.seed, False)
    model = trainer.build_model(cfg, trainer.build_tokenizer(cfg).vocab_size, trainer.feature_dim(cfg))  # train()'s first draw
    init = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.train(cfg, run_dir, console=False, make_plots=False)
    history = load_checkpoint(run_dir / "checkpoints" / "latest.pt")["history"]
    first, second = history
    assert "train_att" not in first and "train_mae" not in first and first["train_ctc"] == first["train_loss"]
    assert "train_att" in second and "train_mae" in second and second["train_loss"] != second["train_ctc"]
    assert math.isfinite(first["val_loss"]) and math.isfinite(second["val_loss"])

    # After epoch 1 only: run the same config for 5 steps and compare with the initial weights.
    cut = tiny_cfg("data.train_size=40", "training.num_epochs=2", "training.ctc_warmup_steps=5", "training.max_steps=5")
    cut_dir = make_run_dir(None, "warm_cut", tmp_path)
    trainer.train(cut, cut_dir, console=False, make_plots=False)
    after = load_checkpoint(cut_dir / "checkpoints" / "latest.pt")["model"]
    assert set(after) == set(init)
    moved = {k for k in after if not torch.equal(after[k], init[k])}
    assert any(k.startswith("encoder.") for k in moved) and any(k.startswith("ctc_head.") for k in moved)
    assert not any(k.startswith(("decoder.", "predictor.")) for k in moved), sorted(moved)
    final = load_checkpoint(run_dir / "checkpoints" / "latest.pt")["model"]
    assert any(k.startswith("decoder.") and not torch.equal(final[k], init[k]) for k in final)


@pytest.mark.parametrize("extra", [["model.name=ctc"], ["model.ctc_weight=0"], ["model.name=transformer_ar"]])
def test_ctc_warmup_needs_a_paraformer_with_a_ctc_head(tmp_path, extra):
    cfg = tiny_cfg("data.train_size=8", "training.ctc_warmup_steps=3", *extra)
    with pytest.raises(trainer.ConfigError, match="training.ctc_warmup_steps=3 needs model.name: paraformer"):
        trainer.train(cfg, make_run_dir(None, "bad", tmp_path), console=False, make_plots=False)


@pytest.mark.parametrize("method,validated_with", [("ctc_greedy", "ctc_greedy"), ("ctc_beam", "ctc_greedy"), ("beam", "greedy")])
def test_validation_decodes_with_the_greedy_form_of_decode_method(tmp_path, monkeypatch, method, validated_with):
    # best.pt is chosen by val CER, so it must be the CER of the decoder the config will use.
    seen = []
    real = trainer.evaluate

    def spy(*args, **kwargs):
        seen.append(kwargs["decode_opts"]["method"])
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "evaluate", spy)
    cfg = tiny_cfg("data.train_size=8", "training.num_epochs=1", f"decode.method={method}")
    trainer.train(cfg, make_run_dir(None, "val", tmp_path), console=False, make_plots=False)
    assert seen == [validated_with]


def test_a_ctc_decode_method_needs_a_ctc_head(tmp_path):
    cfg = tiny_cfg("data.train_size=8", "model.ctc_weight=0", "decode.method=ctc_greedy")
    with pytest.raises(trainer.ConfigError, match="decode.method: decode method 'ctc_greedy' reads the CTC head"):
        trainer.train(cfg, make_run_dir(None, "bad", tmp_path), console=False, make_plots=False)


def test_keep_epoch_checkpoints_keeps_the_last_n_epochs(tmp_path):
    cfg = tiny_cfg("data.train_size=16", "training.num_epochs=4", "training.keep_epoch_checkpoints=2")
    run_dir = make_run_dir(None, "keep", tmp_path)
    trainer.train(cfg, run_dir, console=False, make_plots=False)
    ckpts = run_dir / "checkpoints"
    assert sorted(p.name for p in ckpts.glob("epoch_*.pt")) == ["epoch_3.pt", "epoch_4.pt"]
    third, last = load_checkpoint(ckpts / "epoch_3.pt"), load_checkpoint(ckpts / "latest.pt")
    assert (third["step"], last["step"]) == (6, 8)  # 2 batches per epoch
    final = load_checkpoint(ckpts / "epoch_4.pt")
    assert all(torch.equal(final["model"][k], last["model"][k]) for k in last["model"])
    assert not any(torch.equal(third["model"][k], last["model"][k]) for k in last["model"] if k.endswith("ctc_head.weight"))


def test_keep_epoch_checkpoints_must_not_be_negative(tmp_path):
    cfg = tiny_cfg("data.train_size=8", "training.keep_epoch_checkpoints=-1")
    with pytest.raises(trainer.ConfigError, match="training.keep_epoch_checkpoints=-1"):
        trainer.train(cfg, make_run_dir(None, "bad", tmp_path), console=False, make_plots=False)


def test_resuming_with_another_thread_count_says_it_will_not_be_bit_identical(tmp_path):
    run_dir = make_run_dir(None, "threads", tmp_path)
    trainer.train(tiny_cfg("data.train_size=16", "training.num_epochs=1", "training.num_threads=1"), run_dir,
                  console=False, make_plots=False)
    latest = run_dir / "checkpoints" / "latest.pt"
    assert load_checkpoint(latest)["num_threads"] == 1
    trainer.train(tiny_cfg("data.train_size=16", "training.num_epochs=2", "training.num_threads=1"), run_dir,
                  resume=latest, console=False, make_plots=False)
    assert "resumes with" not in (run_dir / "train.log").read_text()
    trainer.train(tiny_cfg("data.train_size=16", "training.num_epochs=3", "training.num_threads=2"), run_dir,
                  resume=latest, console=False, make_plots=False)
    log = (run_dir / "train.log").read_text()
    assert "the run trained with 1 threads and resumes with 2" in log
    assert "--override training.num_threads=1" in log
