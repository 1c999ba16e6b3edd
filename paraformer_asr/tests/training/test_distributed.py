"""DDP on the CPU (gloo, 2 processes): identical parameters on every rank after every step,
the loss curve of a single process with the same global batch, sharded validation equal to
full validation, Ctrl-C on one rank, resume across world sizes, bit-exact resume on the same
world size, and the torchrun command line.

The reference for "same global batch" is one process with ``grad_accum_steps=2``: its two
micro-batches of a step are exactly the two batches the two ranks take (rank r's i-th batch is
batch ``2 i + r`` of the epoch's list), and DDP's gradient average equals accumulation's
``loss / 2`` sum. Dropout and GLM sampling are off, because N ranks draw from N RNG streams.
"""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import src.training.trainer as trainer
from src.data.batching import build_dataloaders
from src.training import distributed
from src.training.evaluate import decode_options, evaluate
from src.utils.checkpoint import load_checkpoint
from src.utils.config import load_config

PROJECT = Path(__file__).resolve().parents[2]

TINY = [
    "model.d_model=32",
    "model.encoder.num_layers=1",
    "model.encoder.num_heads=2",
    "model.encoder.ffn_dim=64",
    "model.decoder.num_layers=1",
    "model.decoder.num_heads=2",
    "model.decoder.ffn_dim=64",
    "model.encoder.dropout=0.0",
    "model.decoder.dropout=0.0",
    "model.predictor.dropout=0.0",
    "model.sampling_ratio=0.0",  # GLM off: its random choice of glanced tokens differs per rank stream
    "data.feat_dim=16",
    "data.max_words=2",
    "data.train_size=32",  # batch 4: 8 batches an epoch, 4 steps of 2 x 4 utterances
    "data.val_size=12",  # 3 val batches: the two ranks' shards differ in size
    "training.batch_size=4",
    "training.num_epochs=2",
    "training.warmup_steps=3",
    "training.device=cpu",
    "training.log_every=1000",
    "training.amp=false",  # fp32: these tests compare runs bit for bit (bf16 has its own tests)
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def record_training(monkeypatch_setattr, records: dict) -> None:
    """Record every training micro-batch's loss, the model, and (under DDP) a cross-rank parameter check per step."""
    real_build, real_lr_at = trainer.build_model, trainer.lr_at

    def build(cfg, vocab_size, input_dim):
        model = real_build(cfg, vocab_size, input_dim)
        forward = model.forward

        def recording_forward(*args, **kwargs):
            out = forward(*args, **kwargs)
            if model.training:
                records["losses"].append(float(out["loss"].detach()))
            return out

        model.forward = recording_forward
        records["model"] = model
        return model

    def lr_at(step, tc, total):
        # Called on every rank at the start of every optimizer step: the weights of the previous step are in place.
        if dist.is_initialized():
            flat = torch.cat([p.detach().reshape(-1) for p in records["model"].parameters()])
            gathered = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
            dist.all_gather(gathered, flat)
            records["max_rank_diff"].append(max(float((g - flat).abs().max()) for g in gathered))
        if step == records.get("interrupt_step") and distributed.is_main():
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C reaches rank 0 only; both ranks must stop together
        return real_lr_at(step, tc, total)

    monkeypatch_setattr(trainer, "build_model", build)
    monkeypatch_setattr(trainer, "lr_at", lr_at)


def _worker(rank: int, world: int, port: int, run_dir: str, out_dir: str, interrupt_step: int, overrides: list,
            resume: str | None) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    distributed.setup("cpu")
    records: dict = {"losses": [], "max_rank_diff": [], "interrupt_step": interrupt_step}
    record_training(lambda obj, name, value: setattr(obj, name, value), records)
    cfg = load_config(None, TINY + overrides)
    try:
        trainer.train(cfg, run_dir, resume=resume, console=False, make_plots=False)
        records["interrupted"] = False
    except trainer.TrainingInterrupted:
        records["interrupted"] = True
    model = records.pop("model")
    records["params"] = {n: p.detach().clone() for n, p in model.named_parameters()}
    # Sharded validation (each rank scores its share, counts all_reduced) equals one process scoring everything.
    tokenizer = trainer.build_tokenizer(cfg)
    shard_loader = build_dataloaders(cfg, tokenizer, rank=rank, world_size=world, input_dim=16, splits=("val",))["val"]
    full_loader = build_dataloaders(cfg, tokenizer, input_dim=16, splits=("val",))["val"]
    opts = decode_options(cfg, "greedy", 1)
    shard = evaluate(model, shard_loader, tokenizer, torch.device("cpu"), decode_opts=opts, compute_loss=True, detailed=True)
    records["sharded_eval"] = distributed.reduce_eval_result(shard, len(shard_loader))
    records["full_eval"] = evaluate(model, full_loader, tokenizer, torch.device("cpu"), decode_opts=opts, compute_loss=True)
    records["shard_sizes"] = len(shard["utterances"])
    torch.save(records, os.path.join(out_dir, f"rank{rank}.pt"))
    distributed.teardown()


def run_ddp(tmp_path, name: str, *overrides: str, interrupt_step: int = -1, resume=None) -> tuple[list[dict], str]:
    run_dir = tmp_path / name
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    os.environ["OMP_NUM_THREADS"] = "1"
    mp.spawn(_worker, args=(2, free_port(), str(run_dir), str(tmp_path), interrupt_step, list(overrides),
                                 str(resume) if resume else None), nprocs=2, join=True)
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)], run_dir


def run_single(tmp_path, monkeypatch, name: str, *extra: str, resume=None, accum: int = 2) -> dict:
    run_dir = tmp_path / name
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    records: dict = {"losses": [], "max_rank_diff": []}
    with monkeypatch.context() as m:
        record_training(m.setattr, records)
        cfg = load_config(None, TINY + [f"training.grad_accum_steps={accum}", *extra])
        trainer.train(cfg, run_dir, resume=resume, console=False, make_plots=False)
    records["params"] = {n: p.detach().clone() for n, p in records.pop("model").named_parameters()}
    return records


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def assert_params_close(a: dict, b: dict, what: str) -> None:
    for name in a:
        if name.endswith("w_k.bias"):
            # Adding b_k to every key adds q . b_k to all of a query's scores, which softmax ignores: its true
            # gradient is 0, so it only receives float noise, which Adam (eps 1e-9) scales to full-size steps.
            # Its value is noise in any run and has no effect on any output.
            continue
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5, msg=lambda m: f"{what}: {name}: {m}")


@pytest.mark.parametrize("accum", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_two_process_ddp_matches_single_process_same_global_batch(tmp_path, monkeypatch, accum):
    # 2 ranks x accum micro-batches of 4 per step == 1 process x 2 * accum micro-batches of 4 per step
    (r0, r1), run_dir = run_ddp(tmp_path, "ddp", f"training.grad_accum_steps={accum}")
    single = run_single(tmp_path, monkeypatch, "single", accum=2 * accum)
    steps = 8 // accum

    # lr_at runs once before the loop and at the start of every step: identical weights on both ranks each time
    assert len(r0["max_rank_diff"]) == 1 + steps
    assert all(d == 0.0 for d in r0["max_rank_diff"]), r0["max_rank_diff"]
    for name, p in r0["params"].items():  # and after the last step
        assert torch.equal(p, r1["params"][name]), f"{name} differs between ranks"

    # rank r's i-th micro-batch is the single run's micro-batch 2 i + r: same utterances, same weights
    assert len(r0["losses"]) == len(r1["losses"]) == 8 and len(single["losses"]) == 16
    assert r0["losses"] == pytest.approx(single["losses"][0::2], rel=1e-4, abs=1e-5)
    assert r1["losses"] == pytest.approx(single["losses"][1::2], rel=1e-4, abs=1e-5)
    step_means = [sum(single["losses"][2 * accum * s : 2 * accum * (s + 1)]) / (2 * accum) for s in range(steps)]
    assert step_means[-1] < step_means[0]  # it trained
    assert_params_close(r0["params"], single["params"], "DDP vs single process")

    # only rank 0 wrote, the checkpoint holds the plain module and the world size
    state = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    assert state["world_size"] == 2 and state["step"] == steps and (state["epoch"], state["batch_in_epoch"]) == (2, 0)
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in state["model"])
    for name, p in r0["params"].items():
        assert torch.equal(state["model"][name], p)
    assert len(state["rng_per_rank"]) == 2
    assert [r["step"] for r in state["history"]] == [steps // 2, steps]

    # sharded validation: every utterance scored once, counts reduced exactly
    assert r0["shard_sizes"] + r1["shard_sizes"] == 12 and r0["shard_sizes"] != r1["shard_sizes"]
    for r in (r0, r1):
        full, sharded = r["full_eval"], r["sharded_eval"]
        for key in ("cer", "wer", "token_accuracy", "sequence_accuracy", "num_utterances"):
            assert sharded[key] == full[key], key
        assert sharded["val_loss"] == pytest.approx(full["val_loss"], rel=1e-5)


@pytest.mark.slow  # 2-3 launches of 2 processes: ~20-40 s on a shared CPU
def test_ctrl_c_on_one_rank_stops_both_then_resume_on_one_process(tmp_path, monkeypatch):
    # Ctrl-C reaches rank 0 before step 3 (0-based index 2); both ranks finish that step and stop together.
    (r0, r1), run_dir = run_ddp(tmp_path, "cut", interrupt_step=2)
    assert r0["interrupted"] and r1["interrupted"]
    assert len(r0["losses"]) == len(r1["losses"]) == 3
    state = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    assert state["step"] == 3 and (state["epoch"], state["batch_in_epoch"]) == (0, 6)  # 3 batches x 2 ranks

    # One process with 2 micro-batches per step continues at batch 6 of the epoch's list ...
    resumed = run_single(tmp_path, monkeypatch, "cut", resume=run_dir / "checkpoints" / "latest.pt")
    assert len(resumed["losses"]) == 2 + 8  # batches 6, 7 of epoch 1, then all of epoch 2
    assert load_checkpoint(run_dir / "checkpoints" / "latest.pt")["step"] == 8
    # ... and lands where an uninterrupted single-process run with the same global batch lands.
    reference = run_single(tmp_path, monkeypatch, "reference")
    assert resumed["losses"] == pytest.approx(reference["losses"][6:], rel=1e-4, abs=1e-5)
    assert_params_close(resumed["params"], reference["params"], "2-process run resumed on 1 process")


@pytest.mark.slow  # 2-3 launches of 2 processes: ~20-40 s on a shared CPU
def test_resume_on_the_same_world_size_is_exact_with_dropout(tmp_path):
    # Dropout on: each rank must get its own RNG stream back, so the weights end bit-identical.
    dropout = ("model.encoder.dropout=0.2", "model.decoder.dropout=0.2")
    (full, _), _ = run_ddp(tmp_path, "full", *dropout)
    (cut, _), cut_dir = run_ddp(tmp_path, "cut", *dropout, interrupt_step=2)
    assert cut["interrupted"]
    (resumed, _), _ = run_ddp(tmp_path, "cut", *dropout, resume=cut_dir / "checkpoints" / "latest.pt")
    assert resumed["losses"] == full["losses"][3:]
    for name, p in full["params"].items():
        assert torch.equal(resumed["params"][name], p), f"{name} differs after resume"


@pytest.mark.slow  # 2-3 launches of 2 processes: ~20-40 s on a shared CPU
def test_torchrun_cli_two_processes(tmp_path):
    # The real launcher and script: rank 0 names the run folder, only rank 0 prints and writes.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "scripts/train.py", "--config", "configs/tiny_ctc.yaml", "--runs-dir", str(tmp_path),
           "--override", "training.num_epochs=1"]
    done = subprocess.run(cmd, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run folder:") == 1, done.stdout
    runs = [p for p in tmp_path.iterdir() if p.name != "latest"]
    assert len(runs) == 1, runs
    state = load_checkpoint(runs[0] / "checkpoints" / "latest.pt")
    assert state["world_size"] == 2 and state["step"] == 2  # 4 batches of 8: 2 per rank
