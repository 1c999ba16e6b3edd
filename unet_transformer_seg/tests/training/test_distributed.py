"""DDP on the CPU (gloo, 2 processes): identical parameters on every rank after every step,
the loss curve of one process with the same global batch, sharded validation equal to one
process scoring the whole split, rank 0 the only writer, and resume on another world size.

The reference for "same global batch" is one process with ``batch_size=8``: rank r's i-th
sample is entry ``2 i + r`` of the epoch's permutation, so the two ranks' batches of 4 in a
step are exactly the 8 entries of the single process's step, and DDP's gradient average
(mean over ranks of per-rank means) equals the mean over the 8 samples. That needs:
- ``model.norm=group``: BatchNorm in train mode normalises with its batch's statistics, so
  a rank's 4 samples would see other statistics than the 8 of the reference batch;
  GroupNorm works per sample and is batch-independent.
- ``loss.name=ce``: cross-entropy is a mean over pixels, so means of equal-size halves
  average to the mean of the whole; the soft Dice of a batch is a ratio of sums and is not.
- no dropout (tiny config has none), since N ranks draw from N RNG streams.
"""

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import src.training.trainer as trainer
from src.data.loaders import build_dataloaders
from src.metrics.seg_metrics import SegMetrics
from src.training import distributed
from src.training.evaluate import evaluate
from src.utils.checkpoint import load_checkpoint
from src.utils.config import load_config
from src.utils.logging import make_run_dir

PROJECT = Path(__file__).resolve().parents[2]
TINY_YAML = PROJECT / "configs" / "tiny.yaml"
COMMON = ["model.norm=group", "loss.name=ce", "data.train_size=32", "data.val_size=7",  # 7: shards of 4 and 3
          "training.num_epochs=1", "training.warmup_steps=1", "training.log_every=1000", "training.num_vis=2"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _record(records: dict) -> None:
    """Record each train step's logged loss terms and (under DDP) the largest cross-rank parameter difference."""
    real_build, real_lr_at = trainer.build_model, trainer.lr_at

    def build(cfg):
        records["model"] = real_build(cfg)
        return records["model"]

    def lr_at(step, **kw):
        # Called on every rank at the start of every step (and once before validation):
        # the previous step's weights are in place.
        if dist.is_initialized():
            flat = torch.cat([p.detach().reshape(-1) for p in records["model"].parameters()])
            gathered = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
            dist.all_gather(gathered, flat)
            records["max_rank_diff"].append(max(float((g - flat).abs().max()) for g in gathered))
        if step == records.get("interrupt_step") and distributed.is_main():
            import signal
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C reaches rank 0 only: both ranks must stop together
        return real_lr_at(step, **kw)

    real_reduce = distributed.reduce_step_values

    def reduce_step_values(values, stop):
        values, stop = real_reduce(values, stop)
        records["losses"].append(values["loss"])  # the global (rank-averaged) micro-batch loss
        return values, stop

    trainer.build_model, trainer.lr_at = build, lr_at
    trainer.distributed.reduce_step_values = reduce_step_values


def _worker(rank: int, world: int, port: int, tmp: str, overrides: list, interrupt_step: int,
            resume: str | None) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    distributed.setup("cpu")
    records: dict = {"losses": [], "max_rank_diff": [], "interrupt_step": interrupt_step}
    _record(records)
    cfg = load_config(TINY_YAML, COMMON + overrides)
    # Only rank 0 may create anything: the others get a folder name that must never appear.
    run_dir = make_run_dir(None, "run", runs_root=tmp) if rank == 0 else Path(tmp) / f"run_rank{rank}"
    result = trainer.train(cfg, run_dir, resume=resume, console=False)
    model = records.pop("model")
    records["status"], records["history"] = result["status"], result["history"]
    records["params"] = {n: p.detach().clone() for n, p in model.named_parameters()}
    # Sharded validation (each rank scores its share, confusion matrices summed) == one process scoring all.
    shard_loader = build_dataloaders(cfg, rank=rank, world_size=world)[1]
    # The reference scores the whole split in one batch: its loss is then the plain image mean.
    full_loader = build_dataloaders(load_config(TINY_YAML, COMMON + overrides + ["training.batch_size=8"]))[1]
    metrics = SegMetrics(cfg.model.num_classes, cfg.data.ignore_index)
    loss_fn = trainer.build_loss(cfg.loss, cfg.model.num_classes, cfg.data.ignore_index)
    shard, _ = evaluate(model, shard_loader, metrics=metrics, device=torch.device("cpu"), loss_fn=loss_fn)
    records["shard_size"] = len(shard_loader.sampler)
    records["sharded_eval"] = distributed.reduce_val_results(shard, metrics, len(shard_loader.sampler))
    records["full_eval"], _ = evaluate(model, full_loader, metrics=metrics, device=torch.device("cpu"), loss_fn=loss_fn)
    torch.save(records, Path(tmp) / f"records_rank{rank}.pt")
    distributed.teardown()


def run_ddp(tmp_path: Path, overrides: list, *, world: int = 2, interrupt_step: int = -1,
            resume: str | None = None) -> list[dict]:
    mp.spawn(_worker, args=(world, free_port(), str(tmp_path), overrides, interrupt_step, resume), nprocs=world)
    return [torch.load(tmp_path / f"records_rank{r}.pt", weights_only=True) for r in range(world)]


def run_single(tmp_path: Path, overrides: list, monkeypatch) -> dict:
    records: dict = {"losses": [], "max_rank_diff": []}
    for name in ("build_model", "lr_at"):
        monkeypatch.setattr(trainer, name, getattr(trainer, name))  # restored after the test
    monkeypatch.setattr(trainer.distributed, "reduce_step_values", trainer.distributed.reduce_step_values)
    _record(records)
    cfg = load_config(TINY_YAML, COMMON + overrides)
    result = trainer.train(cfg, make_run_dir(None, "single", runs_root=tmp_path), console=False)
    records["history"] = result["history"]
    records["params"] = {n: p.detach().clone() for n, p in records.pop("model").named_parameters()}
    return records


def test_two_process_gloo_matches_single_process(tmp_path, monkeypatch):
    # 32 images, 4 per rank: 4 steps of 2 x 4 images; the reference takes 4 steps of 8.
    ranks = run_ddp(tmp_path / "ddp", ["training.batch_size=4"])
    single = run_single(tmp_path, ["training.batch_size=8"], monkeypatch)

    # After every step the ranks hold bit-identical parameters (DDP all_reduces gradients
    # into the same average on both ranks, and AdamW is deterministic).
    for r in ranks:
        assert len(r["max_rank_diff"]) == 5  # 4 steps + the lr of the validation row
        assert max(r["max_rank_diff"]) == 0.0, r["max_rank_diff"]
        assert r["status"] == "finished"
    # The logged loss curve: global means, the same on both ranks, and the single process's within float rounding.
    assert ranks[0]["losses"] == ranks[1]["losses"]
    assert len(ranks[0]["losses"]) == len(single["losses"]) == 4
    assert torch.allclose(torch.tensor(ranks[0]["losses"]), torch.tensor(single["losses"]), atol=1e-5, rtol=1e-5), \
        (ranks[0]["losses"], single["losses"])
    for name, p in single["params"].items():
        assert torch.allclose(ranks[0]["params"][name], p, atol=1e-5, rtol=1e-4), name
    # Validation: unpadded shards of 4 and 3 images; the summed confusion matrix gives the full-split scores.
    assert [r["shard_size"] for r in ranks] == [4, 3]
    for r in ranks:
        full, sharded = r["full_eval"], r["sharded_eval"]
        for k in ("mean_dice", "mean_iou", "pixel_accuracy"):
            assert sharded[k] == full[k], (k, sharded[k], full[k])  # exact: integer counts
        assert sharded["per_class"] == full["per_class"]
        # CE is a pixel mean and each shard is one batch: the image-weighted mean is the full split's.
        assert sharded["loss"] == pytest.approx(full["loss"], rel=1e-6)
    # The trainer's own (all-reduced) validation row matches the single process's.
    h_ddp, h_single = ranks[0]["history"][-1], single["history"][-1]
    assert h_ddp["val_mean_dice"] == pytest.approx(h_single["val_mean_dice"], abs=1e-4)
    assert h_ddp["train_loss"] == pytest.approx(h_single["train_loss"], rel=1e-5)

    # Only rank 0 wrote files, and its checkpoint holds the plain module (no "module." prefix).
    assert not (tmp_path / "ddp" / "run_rank1").exists()
    ckpt = load_checkpoint(tmp_path / "ddp" / "run" / "checkpoints" / "latest.pt")
    assert ckpt["world_size"] == 2 and len(ckpt["rng_per_rank"]) == 2
    assert set(ckpt["model"]) == set(trainer.build_model(load_config(TINY_YAML, COMMON).model).state_dict())
    for name, p in ranks[0]["params"].items():
        assert torch.equal(ckpt["model"][name], p), name


@pytest.mark.slow
def test_ctrl_c_on_one_rank_then_resume_on_one_process(tmp_path):
    # Ctrl-C reaches rank 0 only, during step 2: both ranks finish that step and stop together.
    ranks = run_ddp(tmp_path / "ddp", ["training.batch_size=4"], interrupt_step=2)
    assert [r["status"] for r in ranks] == ["interrupted", "interrupted"]
    latest = tmp_path / "ddp" / "run" / "checkpoints" / "latest.pt"
    ckpt = load_checkpoint(latest)
    assert ckpt["step"] == 3 and ckpt["epoch_samples"] == 3 * 4 * 2
    # One process, batch 4: 24 of the epoch's 32 entries are done -> step 6 of 8; nothing is skipped.
    cfg = load_config(TINY_YAML, COMMON + ["training.batch_size=4"])
    result = trainer.train(cfg, make_run_dir(None, "resumed", runs_root=tmp_path), resume=latest, console=False)
    assert result["status"] == "finished" and result["step"] == 8
    log = (tmp_path / "resumed" / "train.log").read_text()
    assert "checkpoint written by 2 process(es), resuming on 1" in log and "-> step 6" in log


@pytest.mark.slow
def test_torchrun_cli_then_resume_on_one_process(tmp_path):
    """The real launcher: rank 0 names the run folder and writes; a plain resume continues it."""
    import subprocess
    import sys

    env = dict(os.environ, OMP_NUM_THREADS="1")
    args = ["--config", str(TINY_YAML), "--runs-dir", str(tmp_path), "--run-name", "ddp",
            "--override", "model.norm=group", "training.batch_size=4", "training.num_epochs=1"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "scripts/train.py"]
    done = subprocess.run(cmd + args, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    log = (tmp_path / "ddp" / "train.log").read_text()
    assert "= 8 images per optimizer step" in log and "4 steps/epoch" in log
    latest = tmp_path / "ddp" / "checkpoints" / "latest.pt"
    assert load_checkpoint(latest)["world_size"] == 2
    # Plain python, one process, one more epoch: epoch 1 ended at step 4 of 2 x 4 images = step 8 of 4 images.
    done = subprocess.run([sys.executable, "scripts/train.py", "--resume", str(latest), "--override",
                           "training.num_epochs=2"], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ckpt = load_checkpoint(latest)
    assert ckpt["world_size"] == 1 and ckpt["step"] == 16 and ckpt["epoch"] == 2


@pytest.mark.slow
def test_resume_on_the_same_world_size_is_exact(tmp_path):
    args = ["training.batch_size=4", "training.num_epochs=2"]
    full = run_ddp(tmp_path / "full", args)
    stopped = run_ddp(tmp_path / "stopped", args, interrupt_step=2)
    assert stopped[0]["status"] == "interrupted"
    latest = tmp_path / "stopped" / "run" / "checkpoints" / "latest.pt"
    resumed = run_ddp(tmp_path / "stopped", args, resume=str(latest))
    assert resumed[0]["status"] == "finished"
    for name, p in full[0]["params"].items():
        assert torch.equal(resumed[0]["params"][name], p), name
        assert torch.equal(resumed[1]["params"][name], p), name
    assert load_checkpoint(latest)["step"] == 8
