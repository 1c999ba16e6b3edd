"""torch.distributed for the trainer: process-group setup/teardown, rank checks and reductions.

``torchrun --nproc_per_node N scripts/train.py ...`` starts N processes with
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set.
:func:`setup` reads them and joins the process group: nccl when training on CUDA
(one GPU per process, ``cuda:LOCAL_RANK``), gloo on the CPU. Without those
variables (plain ``python scripts/train.py``) nothing is initialised and every
helper here is a no-op that returns its input, so the single-process path runs
exactly the code it ran before DDP existed.

Semantics (docs/DISTRIBUTED.md has the long form):
- ``training.batch_size`` is per process; one optimizer step sees
  ``batch_size * world_size * grad_accum_steps`` images.
- Train losses are averaged over ranks and the validation confusion matrix is
  summed over ranks, so every rank holds the global numbers; only rank 0 writes
  logs, plots and checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size``, GPU ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device_name: str) -> DistInfo:
    """Join the process group described by torchrun's environment; a no-op without it.

    ``device_name`` is ``training.device`` (auto | cpu | cuda): CUDA training uses
    nccl and pins this process to ``cuda:LOCAL_RANK``; CPU training uses gloo.
    """
    if not launched_by_torchrun():
        return DistInfo()
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if use_cuda:
        assert local_rank < torch.cuda.device_count(), (
            f"LOCAL_RANK={local_rank} but only {torch.cuda.device_count()} GPUs are visible; "
            "use --nproc_per_node <= the number of GPUs"
        )
        # Before init: nccl binds each process to the current device.
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", rank=rank, world_size=world_size)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank)


def teardown() -> None:
    """Leave the process group. No barrier: after an error on one rank, a barrier would hang the others."""
    if dist.is_initialized():
        dist.destroy_process_group()


def info() -> DistInfo:
    """The current process's place; ``DistInfo()`` when no process group is up."""
    if not dist.is_initialized():
        return DistInfo()
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def is_main() -> bool:
    """True on rank 0 (and in a single process): the one rank that writes files."""
    return info().rank == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def _device_for_collectives() -> torch.device:
    # nccl only reduces CUDA tensors; gloo reduces CPU tensors.
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: list[float]) -> list[float]:
    """Element-wise sum over ranks (float64, so counts stay exact); identity in a single process."""
    if not dist.is_initialized():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_device_for_collectives())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def reduce_step_values(values: dict[str, float], stop: bool) -> tuple[dict[str, float], bool]:
    """Mean of each loss term over ranks, and whether any rank asked to stop (Ctrl-C).

    One all_reduce per micro-batch, before its backward: every rank then logs the
    same global loss, makes the same NaN decision and stops at the same step (a rank
    that stopped alone would leave the others waiting in DDP's gradient all_reduce).
    """
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return values, stop
    world = dist.get_world_size()
    keys = sorted(values)
    sums = all_reduce_sum([values[k] for k in keys] + [float(stop)])
    return {k: s / world for k, s in zip(keys, sums)}, sums[-1] > 0


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (e.g. the run folder, whose name has a timestamp)."""
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj: Any) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank; ``[obj]`` in a single process."""
    if not dist.is_initialized():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


@torch.no_grad()
def broadcast_buffers(model: nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank.

    With plain per-rank BatchNorm each rank's running statistics follow its own
    batches. Validation and the checkpoint use rank 0's, so every rank must score
    its validation shard with them for the summed metrics to be those of one model.
    """
    if not dist.is_initialized():
        return
    dev = _device_for_collectives()
    for b in model.buffers():
        t = b.detach().to(dev)
        dist.broadcast(t, src=0)
        b.copy_(t.to(b.device))


def reduce_val_results(results: dict[str, Any], metrics: Any, num_images: int) -> dict[str, Any]:
    """Global validation scores from each rank's ``evaluate`` over its shard.

    ``metrics`` is the SegMetrics that ``evaluate`` filled: its confusion matrix is
    summed over ranks (exact integer counts), then every score is recomputed from
    it, so Dice, IoU and pixel accuracy equal one process scoring the whole split.
    Mean losses are weighted by each rank's image count ``num_images``: for a loss that
    is a per-pixel mean (cross-entropy) over shards that are one batch each this is the
    single-process value up to float rounding; otherwise it can differ by as much as
    a batch-mean (soft Dice, uneven last batches) differs from an image mean. Identity
    in a single process.
    """
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return results
    confusion = metrics.confusion.to(_device_for_collectives())
    dist.all_reduce(confusion, op=dist.ReduceOp.SUM)
    metrics.confusion = confusion.to(metrics.confusion.device)
    # A rank with an empty shard (fewer val images than ranks) has no loss keys: agree on the union.
    loss_keys = sorted(set().union(*gather_objects([k for k in results if k.startswith("loss")])))
    sums = all_reduce_sum([float(num_images)] + [results.get(k, 0.0) * num_images for k in loss_keys])
    out: dict[str, Any] = dict(metrics.compute())
    out |= {k: s / max(sums[0], 1.0) for k, s in zip(loss_keys, sums[1:])}
    return out


class QuietLogger:
    """The logger of ranks other than 0: same interface as ``RunLogger``, writes nothing."""

    def info(self, msg: str) -> None:
        pass

    def log_epoch(self, row: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass
