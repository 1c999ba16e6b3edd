"""The training loop: one function, every step visible.

Bookkeeping that makes ``--resume`` exact on the CPU:

- ``step`` counts optimizer steps; an epoch is ``steps_per_epoch`` of them, each made
  of ``grad_accum_steps`` micro-batches. Epoch ``e`` covers steps
  ``[e * steps_per_epoch, (e + 1) * steps_per_epoch)``.
- The batch order of epoch ``e`` and every augmentation in it are functions of the
  seeds and ``e`` only (see ``src/data/loaders.py``), so a run resumed at step ``s``
  re-creates epoch ``s // steps_per_epoch`` and skips the micro-batches already used.
- ``epoch`` in a checkpoint counts *validated* epochs: a run stopped after an epoch's
  last step but before its validation validates it first when resumed.
- The lr is a pure function of ``step``; the checkpoint holds model, optimizer and
  scaler state, RNG states and the running sums of the current epoch's train losses.

Checkpoints are saved at the end of every epoch, on Ctrl-C and at ``max_steps``, always
after a completed optimizer step, so model and optimizer are never half-updated.

Under ``torchrun`` (``src/training/distributed.py``, docs/DISTRIBUTED.md) the same loop
runs DDP: rank r trains on every world_size-th index of the epoch's permutation,
``training.batch_size`` is per process, losses are averaged over ranks, the validation
confusion matrix is summed over ranks, and only rank 0 writes files. In a single
process every distributed helper is a no-op and the loop is the one described above.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from src.data.loaders import build_dataloaders, class_names
from src.losses import build_loss
from src.metrics.seg_metrics import SegMetrics
from src.models import build_model
from src.training import distributed
from src.training.compile_fallback import compile_or_eager
from src.training.evaluate import autocast_context, evaluate
from src.training.plots import plot_curves, plot_predictions
from src.training.schedule import lr_at
from src.utils.amp import AmpChoice, AmpSetting, keep_norms_fp32, resolve_amp, sdpa_bf16_warning
from src.utils.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from src.utils.config import ConfigError, ExperimentConfig, config_from_dict, config_to_dict, dump_config
from src.utils.logging import RunLogger
from src.utils.tensor_utils import resolve_device, seed_everything

INTERRUPTED_EXIT_CODE = 130  # the shell's code for "terminated by Ctrl-C" (128 + SIGINT)


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or Inf; the message names the step and the last good checkpoint."""


class _StopOnSigint:
    """First Ctrl-C: finish the current optimizer step, then stop cleanly. Second: abort now."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> "_StopOnSigint":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def amp_dtype(setting: AmpSetting, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``training.amp`` on ``device``: None (fp32), bf16 or fp16 (src/utils/amp.py)."""
    return resolve_amp(setting, device).dtype


def setup_amp(setting: AmpSetting, device: torch.device) -> tuple[AmpChoice, torch.amp.GradScaler]:
    """(the resolved precision, GradScaler). The scaler is active only for fp16 (CUDA without native bf16).

    bf16 has fp32's exponent range, so its gradients do not underflow and need no
    scaling; fp16 does, hence the GradScaler.
    """
    choice = resolve_amp(setting, device)
    return choice, torch.amp.GradScaler("cuda", enabled=choice.uses_grad_scaler)


def use_channels_last(setting: bool | str, device: torch.device) -> bool:
    """``training.channels_last``: auto = on the CPU (oneDNN's convs measured faster in NHWC, fp32 and bf16)."""
    return device.type == "cpu" if setting == "auto" else bool(setting)


def fused_adamw_supported(device: torch.device) -> bool:
    """Whether this torch has a fused AdamW kernel for ``device`` (CUDA; the CPU from torch 2.4 on)."""
    try:
        torch.optim.AdamW([torch.zeros(1, device=device, requires_grad=True)], fused=True)
    except (RuntimeError, ValueError):
        return False
    return True


def build_optimizer(model: nn.Module, cfg: ExperimentConfig) -> torch.optim.AdamW:
    """AdamW; biases and norm weights (1-D tensors) get no weight decay, as is standard.

    ``training.fused_optimizer`` picks torch's fused AdamW kernel (the same update, one pass
    over all tensors) over its per-tensor loop; ``auto`` = fused where supported.
    tests/training/test_fused_optimizer.py checks both give the same weights.
    """
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() <= 1]
    groups = [{"params": decay, "weight_decay": cfg.training.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    fused = cfg.training.fused_optimizer
    device = next(model.parameters()).device
    if fused == "auto":
        fused = fused_adamw_supported(device)
    elif fused and not fused_adamw_supported(device):
        raise ConfigError(
            f"training.fused_optimizer=true, but torch {torch.__version__} has no fused AdamW for {device.type} "
            "(the CPU needs torch >= 2.4); set it to auto or false"
        )
    return torch.optim.AdamW(groups, lr=cfg.training.learning_rate, fused=bool(fused))


def _flat_metrics(prefix: str, results: dict[str, Any]) -> dict[str, Any]:
    """{"mean_dice": .., "per_class": {name: {"dice", "iou"}}} -> {"val_mean_dice": .., "val_dice_<name>": ..}."""
    row: dict[str, Any] = {}
    for k, v in results.items():
        if k == "per_class":
            for name, scores in v.items():
                for metric, value in scores.items():
                    row[f"{prefix}{metric}_{name}"] = float(value)
        else:
            row[f"{prefix}{k}"] = float(v)
    return row


def resumed_schedule(ckpt: dict, step: int, total_steps: int, steps_per_epoch: int, t, log) -> dict[str, Any]:
    """The lr schedule of a resumed run: the checkpoint's own when the horizon is unchanged;
    else a fresh cosine from the current lr (src/training/schedule.py), logged."""
    saved = ckpt.get("schedule")
    if saved is None:  # checkpoints from before "schedule" was stored: its config's horizon
        old = config_from_dict(ckpt["config"]).training
        old_total = old.num_epochs * steps_per_epoch
        saved = {"total_steps": min(old_total, old.max_steps) if old.max_steps > 0 else old_total}
    restart = {k: saved[k] for k in ("restart_step", "restart_lr") if k in saved}
    if saved["total_steps"] == total_steps:
        return restart
    current = lr_at(max(step - 1, 0), base_lr=t.learning_rate, warmup_steps=t.warmup_steps,
                    total_steps=saved["total_steps"], min_lr_ratio=t.min_lr_ratio, **restart)
    log.info(f"schedule extended from {saved['total_steps']} to {total_steps} steps: a fresh cosine from the "
             f"current lr {current:.3e} at step {step} down to {t.learning_rate * t.min_lr_ratio:.3e}")
    return {"restart_step": step, "restart_lr": current}


def train(cfg: ExperimentConfig, run_dir: str | Path, *, resume: str | Path | None = None,
          console: bool = True) -> dict[str, Any]:
    """Train ``cfg`` into ``run_dir`` (made by ``make_run_dir``); resume from checkpoint ``resume``.

    Returns ``{"status": "finished" | "interrupted", "step", "epoch", "best_metric",
    "history", "best_path", "latest_path"}``; scripts exit with INTERRUPTED_EXIT_CODE
    on "interrupted". Raises TrainingDivergedError on a NaN/Inf loss.
    """
    t = cfg.training
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    latest_path, best_path = ckpt_dir / "latest.pt", ckpt_dir / "best.pt"
    dinfo = distributed.info()  # rank 0 of 1 unless torchrun started us (runner.py joined the group)
    rank, world, main = dinfo.rank, dinfo.world_size, dinfo.rank == 0
    device = resolve_device(t.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", dinfo.local_rank)  # one GPU per process
    console = console and main  # tqdm and console lines from rank 0 only
    seed_everything(t.seed, t.deterministic)  # the same on every rank: identical initial weights
    if main:
        dump_config(cfg, run_dir / "config.yaml")
    log = RunLogger(run_dir, run_id=run_dir.name, model_type=cfg.model.name, console=console) if main \
        else distributed.QuietLogger()

    # ---- data ----
    train_loader, val_loader = build_dataloaders(cfg, rank=rank, world_size=world)
    accum = t.grad_accum_steps
    steps_per_epoch = len(train_loader) // accum
    if steps_per_epoch < 1:
        raise ValueError(f"an epoch has {len(train_loader)} batches, fewer than training.grad_accum_steps={accum}; "
                         "lower training.batch_size or grad_accum_steps, or add training data")
    total_steps = t.num_epochs * steps_per_epoch
    if t.max_steps > 0:
        total_steps = min(total_steps, t.max_steps)
    num_epochs = math.ceil(total_steps / steps_per_epoch)  # the last one may be cut short by max_steps

    # ---- model, loss, metrics, optimizer ----
    model = build_model(cfg.model).to(device)
    model.grad_checkpointing = t.grad_checkpointing
    if t.sync_batchnorm and world > 1:
        if device.type != "cuda":
            raise ValueError("training.sync_batchnorm needs CUDA (torch's SyncBatchNorm has no CPU kernel); "
                             "set training.sync_batchnorm=false or use model.norm=group on the CPU")
        # BatchNorm statistics over the global batch instead of each rank's share
        # (docs/DISTRIBUTED.md). Same state_dict keys, so checkpoints load into BatchNorm2d.
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    channels_last = use_channels_last(t.channels_last, device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    keep_norms_fp32(model)  # under autocast the norms compute in fp32 (no-op in an fp32 run)
    if rank > 0:
        seed_everything(t.seed + 1000 * rank, t.deterministic)  # own dropout draws per rank
    loss_fn = build_loss(cfg.loss, cfg.model.num_classes, cfg.data.ignore_index)
    names = class_names(cfg)
    metrics = SegMetrics(cfg.model.num_classes, cfg.data.ignore_index, names)
    optimizer = build_optimizer(model, cfg)
    amp, scaler = setup_amp(t.amp, device)
    autocast_dtype = amp.dtype

    step, epoch, best_metric, train_time = 0, 0, -math.inf, 0.0
    restart: dict[str, Any] = {}  # an extended resumed run: {"restart_step", "restart_lr"} (schedule.py)
    history: list[dict[str, Any]] = []
    sums: dict[str, float] = {}  # running sums of this epoch's train losses (restored on resume)
    if resume is not None:
        ckpt = load_checkpoint(resume, map_location=device)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        saved_world = ckpt.get("world_size", 1)
        rngs = ckpt.get("rng_per_rank") or [ckpt["rng"]]
        if len(rngs) == world:
            restore_rng_state(rngs[rank])  # each rank's own streams: exact on the same world size
        elif rank == 0:
            restore_rng_state(ckpt["rng"])
        else:
            seed_everything(t.seed + 1000 * rank + ckpt["step"], t.deterministic)  # new world size: fresh streams
        train_loader.generator.set_state(ckpt["loader_generator"])
        step, epoch, best_metric = ckpt["step"], ckpt["epoch"], ckpt["best_metric"]
        train_time, history, sums = ckpt["train_time_s"], ckpt["history"], ckpt["epoch_sums"]
        if saved_world != world:
            # Steps have another size now. Rank r's k-th index is entry k * world + r of the
            # epoch's permutation, so "k indices per rank done" means "the first k * world
            # entries done" on any world size: restart the epoch at the last whole new step
            # inside the part already trained. Up to one global batch is trained again, none
            # is skipped; the lr schedule is recomputed for the new steps/epoch.
            per_step = accum * t.batch_size * world
            done = ckpt.get("epoch_samples", (step - epoch * steps_per_epoch) * per_step)
            step = epoch * steps_per_epoch + min(done // per_step, steps_per_epoch)
            log.info(f"checkpoint written by {saved_world} process(es), resuming on {world}: "
                     f"{done} samples of epoch {epoch + 1} done -> step {step}")
        restart = resumed_schedule(ckpt, step, total_steps, steps_per_epoch, t, log)
        del ckpt
        log.info(f"resumed from {resume} at step {step} (epoch {epoch + 1}, best val mean Dice {best_metric:.4f})")
    n_params = sum(p.numel() for p in model.parameters())
    forward = model  # what the loop calls; checkpoints always save `model`, the plain module
    if t.compile:
        probe = [train_loader.dataset[i] for i in train_loader.sampler.indices()[:t.batch_size]]
        images = torch.stack([x for x, _ in probe]).to(device)  # (B, 3, H, W)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        forward = compile_or_eager(model, images, torch.stack([m for _, m in probe]).to(device), loss_fn,
                                   autocast_dtype=autocast_dtype, warn=log.info)
    if world > 1:
        # DDP averages gradients over ranks inside backward; its constructor broadcasts rank 0's weights.
        forward = DistributedDataParallel(forward, device_ids=[dinfo.local_rank] if device.type == "cuda" else None)
    log.info(f"model {cfg.model.name}: {n_params / 1e6:.3f}M parameters | device {device} | amp={amp.describe()} | "
             f"{'channels_last' if channels_last else 'NCHW'} | fused_adamw={optimizer.defaults['fused']} | "
             f"{steps_per_epoch} steps/epoch x {num_epochs} epochs = {total_steps} steps | run {run_dir}")
    if cfg.model.name == "unet_transformer" and (advice := sdpa_bf16_warning(amp, cfg.model.attention_impl)):
        log.info(f"warning: {advice}")
    if world > 1:
        log.info(f"DDP: {world} processes | batch {t.batch_size}/process x {world} processes x {accum} "
                 f"accumulation = {t.batch_size * world * accum} images per optimizer step"
                 f"{' | SyncBatchNorm' if t.sync_batchnorm else ''}")

    def checkpoint(path: Path) -> None:
        """Every rank calls this (the RNG gather is collective); rank 0 writes, the others wait."""
        rngs = distributed.gather_objects(capture_rng_state())
        if main:
            save_checkpoint(path, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                "step": step, "epoch": epoch, "best_metric": best_metric, "train_time_s": train_time,
                "rng": rngs[0], "loader_generator": train_loader.generator.get_state(),
                "epoch_sums": sums, "history": history, "config": config_to_dict(cfg),
                "schedule": {"total_steps": total_steps, **restart},
                "model_type": cfg.model.name, "class_names": names, "num_params": n_params,
                "palette": getattr(train_loader.dataset, "palette", None),  # palette masks: infer writes it back
                "world_size": world, "rng_per_rank": rngs if world > 1 else [],
                # entries of this epoch's permutation already trained on (all ranks together)
                "epoch_samples": (step - epoch * steps_per_epoch) * accum * t.batch_size * world,
            })
        distributed.barrier()

    status, updating, hard_abort = "finished", False, False
    agreed_stop = False  # under DDP: stop.requested as agreed by all ranks at the last micro-batch

    def stopping() -> bool:
        # A rank that stopped alone would leave the others waiting in a collective.
        return stop.requested if world == 1 else agreed_stop

    with _StopOnSigint() as stop:
        try:
            while epoch < num_epochs and not stopping():
                # ---- one epoch of training (possibly resumed in the middle) ----
                first = step - epoch * steps_per_epoch  # steps of this epoch already done
                last = min(steps_per_epoch, total_steps - epoch * steps_per_epoch)
                train_loader.sampler.set_epoch(epoch)
                train_loader.sampler.set_start(first * accum * t.batch_size)
                train_loader.dataset.set_epoch(epoch)
                batches = iter(train_loader)
                model.train()
                bar = tqdm(range(first, last), desc=f"epoch {epoch + 1}/{num_epochs}", initial=first,
                           total=last, disable=not console, leave=False, dynamic_ncols=True, mininterval=1.0)
                t0 = time.perf_counter()
                for _ in bar:
                    lr = lr_at(step, base_lr=t.learning_rate, warmup_steps=t.warmup_steps,
                               total_steps=total_steps, min_lr_ratio=t.min_lr_ratio, **restart)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    optimizer.zero_grad(set_to_none=True)
                    step_sums: dict[str, float] = {}
                    for _micro in range(accum):
                        if world > 1:  # all_reduce gradients only in the step's last backward (as no_sync())
                            forward.require_backward_grad_sync = _micro + 1 == accum
                        images, masks = next(batches)
                        images = images.to(device, non_blocking=True)  # (B, 3, H, W)
                        masks = masks.to(device, non_blocking=True)  # (B, H, W)
                        if channels_last:
                            images = images.contiguous(memory_format=torch.channels_last)
                        with autocast_context(device, autocast_dtype):
                            logits = forward(images)  # (B, K, H, W)
                        losses = loss_fn(logits.float(), masks)  # {"loss", "ce", "dice"}
                        # One device-to-host copy for all terms (on CUDA each float() would wait for
                        # the GPU); it stays per micro-batch for the NaN check and the DDP stop vote.
                        values = dict(zip(losses, torch.stack([v.detach() for v in losses.values()]).tolist()))
                        values, agreed = distributed.reduce_step_values(values, stop.requested)  # means over ranks
                        agreed_stop = agreed_stop or agreed
                        if not math.isfinite(values["loss"]):
                            last_good = latest_path if latest_path.exists() else "none yet (no epoch finished)"
                            raise TrainingDivergedError(
                                f"loss is {values['loss']} at step {step} (epoch {epoch + 1}); stopping. "
                                f"Last good checkpoint: {last_good}. Lower training.learning_rate, keep "
                                f"training.max_grad_norm > 0, or check the data for bad values.")
                        # Dividing by accum makes the summed gradient the mean over the
                        # accum micro-batches, i.e. the gradient of one big batch.
                        scaler.scale(losses["loss"] / accum).backward()
                        for k, v in values.items():
                            step_sums[k] = step_sums.get(k, 0.0) + v / accum
                    scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                    max_norm = t.max_grad_norm if t.max_grad_norm > 0 else math.inf
                    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)  # read only when logged
                    updating = True  # parameters and optimizer state change from here ...
                    scaler.step(optimizer)  # skips the step if fp16 gradients overflowed
                    scaler.update()
                    step += 1
                    for k, v in step_sums.items():
                        sums[k] = sums.get(k, 0.0) + v
                    sums["steps"] = sums.get("steps", 0.0) + 1
                    updating = False  # ... to here; a checkpoint outside is consistent
                    bar.set_postfix(loss=f"{step_sums['loss']:.4f}", lr=f"{lr:.2e}")
                    if step % t.log_every == 0:
                        terms = " ".join(f"{k} {v:.4f}" for k, v in step_sums.items())
                        log.info(f"step {step}/{total_steps} epoch {epoch + 1} {terms} "
                                 f"lr {lr:.2e} grad_norm {float(grad_norm):.3f}")
                    if stopping():
                        break
                bar.close()
                epoch_time = time.perf_counter() - t0
                train_time += epoch_time
                if stopping():
                    break

                # ---- validation, logging, plots, checkpoints ----
                # DDP: every rank scores its shard with rank 0's BatchNorm statistics (the
                # checkpoint's); the confusion matrices are summed, so scores are global.
                distributed.broadcast_buffers(model)
                val, vis = evaluate(model, val_loader, metrics=metrics, device=device, loss_fn=loss_fn,
                                    autocast_dtype=autocast_dtype, channels_last=channels_last, keep=t.num_vis)
                val = distributed.reduce_val_results(val, metrics, len(val_loader.sampler))
                n_steps = max(sums.pop("steps", 0.0), 1.0)
                lr = lr_at(max(step - 1, 0), base_lr=t.learning_rate, warmup_steps=t.warmup_steps,
                           total_steps=total_steps, min_lr_ratio=t.min_lr_ratio, **restart)  # the last step's lr
                row = {"epoch": epoch + 1, "step": step, "lr": lr,
                       **{("train_loss" if k == "loss" else f"train_loss_{k}"): v / n_steps for k, v in sums.items()},
                       **_flat_metrics("val_", val),
                       "epoch_time_s": round(epoch_time, 3), "train_time_s": round(train_time, 3),
                       "images_per_s": round((last - first) * accum * t.batch_size * world / max(epoch_time, 1e-9), 2),
                       "num_params": n_params}
                sums = {}
                history.append(row)
                epoch += 1
                log.log_epoch(row)
                per_class = " ".join(f"{n}={val['per_class'][n]['dice']:.3f}" for n in names[1:] if n in val["per_class"])
                log.info(f"epoch {epoch}/{num_epochs} step {step}: train loss {row['train_loss']:.4f} | val loss "
                         f"{val.get('loss', float('nan')):.4f} mean Dice {val['mean_dice']:.4f} IoU {val['mean_iou']:.4f} "
                         f"({per_class}) | {row['images_per_s']:.1f} img/s")
                if main:
                    plot_curves(history, run_dir / "plots" / "curves.png")
                if main and len(vis["images"]):
                    plot_predictions(vis["images"], vis["masks"], vis["preds"], run_dir / "plots" / "predictions.png",
                                     mean=cfg.data.mean, std=cfg.data.std,
                                     title=f"epoch {epoch}: val mean Dice {val['mean_dice']:.3f}")
                if val["mean_dice"] > best_metric:
                    best_metric = val["mean_dice"]
                    checkpoint(best_path)
                checkpoint(latest_path)
        except KeyboardInterrupt:
            # A second Ctrl-C (or one that bypassed our handler) lands anywhere. Partial
            # micro-batch work is simply dropped; only a half-done optimizer update
            # would make the state inconsistent, and then we must not save it.
            stop.requested = agreed_stop = hard_abort = True
        except RuntimeError:
            # Ctrl-C also reaches DataLoader workers, which then exit; the loader reports
            # that as a RuntimeError. After a Ctrl-C that is part of stopping, not a bug.
            if not stop.requested:
                raise
    if stopping():
        status = "interrupted"
        if world > 1 and hard_abort:
            # The ranks may be at different points: a checkpoint's collectives could hang.
            log.info(f"interrupted mid-step under DDP at step {step}; not saving. "
                     f"The last saved checkpoint is {latest_path if latest_path.exists() else 'none'}")
        elif updating:
            log.info(f"interrupted inside an optimizer update at step {step}; not saving a half-updated model. "
                     f"The last saved checkpoint is {latest_path if latest_path.exists() else 'none'}")
        else:
            checkpoint(latest_path)
            log.info(f"interrupted at step {step}; saved {latest_path}. Resume with:\n"
                     f"  python scripts/train.py --resume {latest_path}")
    else:
        log.info(f"done: {step} steps, best val mean Dice {best_metric:.4f} ({best_path})")
    log.close()
    return {"status": status, "step": step, "epoch": epoch, "best_metric": best_metric, "history": history,
            "best_path": best_path, "latest_path": latest_path}
