"""The training loop: one function, every step visible.

``train(cfg, run_dir)`` builds the data, model and optimizer, then for every
batch: learning rate from a pure schedule function, forward (a dict of named
losses), backward, clipping, optimizer step, logging. After each epoch it
decodes the validation split greedily (CER, WER, token/sequence accuracy),
writes ``latest.pt`` and, when the validation CER improves, ``best.pt``.

Exact resume: a checkpoint holds the model, optimizer, AMP scaler, step,
epoch, how many batches of the epoch were consumed, and the RNG states, all
taken at an optimizer-step boundary. The batch order is a pure function of
``(seed, epoch)`` and the toy data of ``(seed, split, index)``, so on the CPU an
interrupted-then-resumed run ends with bit-identical weights.

Ctrl-C is caught by a SIGINT handler that only sets a flag; the loop stops at
the next step boundary, saves ``latest.pt`` and raises :class:`TrainingInterrupted`
(the script exits 130). A second Ctrl-C aborts at once.

Under torchrun (a process group is up, see src/training/distributed.py) the same
loop runs DDP: each rank trains on its shard of the epoch's batch list,
``training.batch_size`` is per process, losses, the stop flag and validation
counts are all_reduced, and only rank 0 writes. ``batch_in_epoch`` in a
checkpoint counts batches of the epoch's (world-size independent) batch list, so
a run can resume on another number of processes (docs/DISTRIBUTED.md).
"""

from __future__ import annotations

import math
import os
import signal
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from src.data.batching import build_dataloaders, build_tokenizer, collate, feature_dim
from src.data.tokenizer import CharTokenizer
from src.data.vocab import tokenizer_from_json
from src.decode.methods import CTC_METHODS, check_decode_method
from src.models import build_model
from src.training import distributed
from src.training.compile_fallback import compile_or_eager
from src.training.evaluate import decode_options, evaluate
from src.training.plots import plot_cif, plot_curves
from src.training.schedule import lr_at
from src.utils import openmp
from src.utils.amp import AmpChoice, autocast_model, resolve_amp, sdpa_bf16_warning
from src.utils.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from src.utils.config import ConfigError, ExperimentConfig, config_to_dict, dump_config
from src.utils.logging import RunLogger
from src.utils.tensor_utils import resolve_device, seed_everything


class TrainingInterrupted(Exception):
    """Ctrl-C: ``latest.pt`` was saved at ``checkpoint``; resume from it."""

    def __init__(self, checkpoint: Path) -> None:
        super().__init__(f"interrupted; saved {checkpoint}")
        self.checkpoint = checkpoint


class _StopFlag:
    """SIGINT sets ``requested``; a second SIGINT raises KeyboardInterrupt immediately.

    ``grace`` seconds after the first SIGINT a second one is ignored: under torchrun a
    Ctrl-C reaches each worker twice, from the terminal and forwarded by the launcher.
    """

    def __init__(self, grace: float = 0.0) -> None:
        self.requested = False
        self.grace = grace
        self._first = 0.0
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and time.monotonic() - self._first >= self.grace:
            raise KeyboardInterrupt
        if not self.requested:
            self.requested, self._first = True, time.monotonic()

    def __enter__(self) -> _StopFlag:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: Ctrl-C handling stays the default
            self._previous = None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def fused_adamw_supported(device: torch.device) -> bool:
    """Whether this torch has a fused AdamW kernel for ``device`` (CUDA; the CPU from torch 2.4 on)."""
    try:
        torch.optim.AdamW([torch.zeros(1, device=device, requires_grad=True)], fused=True)
    except (RuntimeError, ValueError):
        return False
    return True


def build_optimizer(model: torch.nn.Module, cfg: ExperimentConfig) -> torch.optim.Optimizer:
    """AdamW; biases, norms and embeddings' 1-D parameters are not decayed (decay only shrinks matrices).

    ``training.fused_optimizer`` picks torch's fused AdamW kernel (the same update, one pass
    over all tensors) over its per-tensor loop; ``auto`` = fused where supported.
    tests/training/test_fused_optimizer.py checks both give the same weights.
    """
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.training.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    fused = cfg.training.fused_optimizer
    device = next(model.parameters()).device
    if fused == "auto":
        fused = fused_adamw_supported(device)
    elif fused and not fused_adamw_supported(device):
        raise ConfigError(
            f"training.fused_optimizer=true, but torch {torch.__version__} has no fused AdamW for {device.type} "
            "(the CPU needs torch >= 2.4); set it to auto or false"
        )
    return torch.optim.AdamW(groups, lr=cfg.training.learning_rate, betas=(0.9, 0.98), eps=1e-9, fused=bool(fused))


def loss_values(losses: dict[str, torch.Tensor]) -> dict[str, float]:
    """The scalar loss terms as Python floats with one host sync (a float() per term waits on the GPU once each)."""
    return dict(zip(losses, torch.stack([v.detach().float() for v in losses.values()]).tolist()))


def amp_setup(cfg: ExperimentConfig, device: torch.device) -> tuple[AmpChoice, torch.amp.GradScaler]:
    """The autocast precision for ``training.amp`` (src/utils/amp.py) and a GradScaler enabled only for fp16.

    bf16 has fp32's exponent range, so gradients cannot underflow and no scaler
    is needed; fp16 needs loss scaling to keep small gradients representable.
    """
    amp = resolve_amp(cfg.training.amp, device)
    return amp, torch.amp.GradScaler("cuda", enabled=amp.uses_grad_scaler)


# torch's own default (physical cores, or OMP_NUM_THREADS) and OpenMP's wait policy, both read
# once, when torch loaded: before any train() changes the thread count.
TORCH_DEFAULT_THREADS = torch.get_num_threads()
OPENMP_WAITS_PASSIVELY = openmp.waits_passively()


def prune_epoch_checkpoints(ckpt_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest ``epoch_<N>.pt`` in ``ckpt_dir`` (newest = highest N)."""
    found = sorted((int(p.stem.split("_")[1]), p) for p in ckpt_dir.glob("epoch_*.pt") if p.stem.split("_")[1].isdigit())
    for _, path in found[:-keep]:
        path.unlink()


def choose_num_threads(setting: int | str, device: torch.device, num_workers: int, *,
                       cores: int | None = None, processes_per_node: int = 1,
                       passive_waits: bool | None = None) -> tuple[int | None, str]:
    """Intra-op threads for training: (threads or None = leave torch's default, why), for the log.

    On the CPU, ``auto`` gives this process its share of torch's default thread count (``cores``;
    ``processes_per_node`` DDP processes share them). DataLoader workers that augment and compute
    features keep cores busy part of each step. Where OpenMP's idle threads sleep
    (``passive_waits``; scripts/train.py sets ``OMP_WAIT_POLICY=PASSIVE`` when there are workers,
    src/utils/openmp.py) the model takes the whole share and the workers fill its gaps; where
    they spin, each worker gets a core of its own. Measured on 2 cores with one worker
    (ctc_speech_robust.yaml, fp32): 1 thread 0.83-0.87 s/step, 2 spinning threads 0.73-0.75,
    2 sleeping threads 0.63.
    """
    if device.type != "cpu":
        return None, f"torch default on {device.type}"
    if setting != "auto":
        if isinstance(setting, bool) or not isinstance(setting, int) or setting < 1:
            raise ConfigError(f"training.num_threads={setting!r} must be a positive integer or auto")
        return setting, "training.num_threads"
    if cores is None:
        cores = TORCH_DEFAULT_THREADS
    if passive_waits is None:
        passive_waits = OPENMP_WAITS_PASSIVELY
    share = max(1, cores // max(processes_per_node, 1))
    if num_workers and passive_waits:
        return share, f"auto: {share} cores shared with {num_workers} data workers, OMP_WAIT_POLICY=PASSIVE"
    threads = max(1, share - num_workers)
    return threads, f"auto: {share} cores - {num_workers} data workers"


def train(
    cfg: ExperimentConfig,
    run_dir: str | Path,
    *,
    resume: str | Path | None = None,
    console: bool = True,
    make_plots: bool = True,
    stop_when: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """Train ``cfg`` into ``run_dir`` (made by ``make_run_dir``); returns the last validation row.

    ``stop_when(row)`` is asked after each epoch's validation and checkpoints; True ends
    training there (src/bench/time_to_accuracy.py stops at an accuracy target this way).

    Raises :class:`TrainingInterrupted` on Ctrl-C (after saving ``latest.pt``) and
    FloatingPointError on a NaN/Inf loss, naming the step and the last good checkpoint.
    """
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    tc = cfg.training
    place = distributed.info()  # rank 0 of 1 unless torchrun started this process
    rank, world, local_rank = place.rank, place.world_size, place.local_rank
    main = rank == 0  # only rank 0 writes logs, plots and checkpoints
    seed_everything(tc.seed, tc.deterministic)  # the same seed on every rank: identical initial weights
    device = resolve_device(tc.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", local_rank)  # one GPU per process
    threads, threads_why = choose_num_threads(tc.num_threads, device, cfg.data.num_workers,
                                              processes_per_node=int(os.environ.get("LOCAL_WORLD_SIZE", world)))
    if threads is not None:
        torch.set_num_threads(threads)

    state = load_checkpoint(resume) if resume else None
    tokenizer = tokenizer_from_json(state["tokenizer"]) if state else build_tokenizer(cfg)
    input_dim = feature_dim(cfg)
    model = build_model(cfg, tokenizer.vocab_size, input_dim).to(device)
    if hasattr(model, "grad_checkpointing"):
        model.grad_checkpointing = tc.grad_checkpointing
    if tc.ctc_warmup_steps < 0 or (tc.ctc_warmup_steps and getattr(model, "ctc_head", None) is None) \
            or (tc.ctc_warmup_steps and not hasattr(model, "ctc_only")):
        raise ConfigError(
            f"training.ctc_warmup_steps={tc.ctc_warmup_steps} needs model.name: paraformer with "
            f"model.ctc_weight > 0 (got model.name={cfg.model.name}, ctc_weight={cfg.model.ctc_weight}); "
            "set it to 0 otherwise"
        )
    if tc.keep_epoch_checkpoints < 0:
        raise ConfigError(f"training.keep_epoch_checkpoints={tc.keep_epoch_checkpoints}: use 0 (off) or the number of epochs to keep")
    try:
        check_decode_method(model, cfg.decode.method)
    except ValueError as e:
        raise ConfigError(f"decode.method: {e}") from None
    loaders = build_dataloaders(cfg, tokenizer, rank=rank, world_size=world, input_dim=input_dim,
                                cmvn_state=state.get("cmvn") if state else None)
    train_loader, val_loader = loaders["train"], loaders["val"]
    sampler = train_loader.batch_sampler
    # Real audio: the training CMVN statistics travel in every checkpoint (eval, infer and serve reuse them).
    cmvn = getattr(train_loader.dataset, "cmvn", None)
    optimizer = build_optimizer(model, cfg)
    amp, scaler = amp_setup(cfg, device)

    steps_per_epoch = math.ceil(len(train_loader) / tc.grad_accum_steps)
    total_steps = tc.num_epochs * steps_per_epoch
    if tc.max_steps > 0:
        total_steps = min(total_steps, tc.max_steps)

    step, start_epoch, start_batch, best_cer, train_seconds = 0, 0, 0, float("inf"), 0.0
    saved_threads = None  # the intra-op thread count the resumed run trained with
    epoch_sums: dict[str, float] = {}
    history: list[dict[str, Any]] = []
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if state["scaler"] and scaler.is_enabled():  # empty when saved without fp16 (CPU, bf16)
            scaler.load_state_dict(state["scaler"])
        step, start_epoch = state["step"], state["epoch"]
        # batch_in_epoch counts batches of the epoch's batch list (all ranks together); rank r's
        # i-th batch is list entry i * world + r. On another world size, up to world - 1 batches
        # before the saved position are trained on again; none is skipped.
        start_batch = state["batch_in_epoch"] // world
        best_cer, train_seconds = state["best_cer"], state["train_seconds"]
        saved_threads = state.get("num_threads")
        epoch_sums, history = dict(state["epoch_loss_sums"]), list(state["history"])
        per_rank = state.get("rng_per_rank") or []
        restore_rng_state(per_rank[rank] if len(per_rank) == world else state["rng"])
        if world > 1 and len(per_rank) != world and rank > 0:
            seed_everything(tc.seed + 1000 * rank + step, tc.deterministic)  # other world size: fresh streams
        del state
    elif rank > 0:
        seed_everything(tc.seed + 1000 * rank, tc.deterministic)  # own dropout/GLM/SpecAugment draws per rank

    forward_model = model  # the loop calls forward_model; checkpoints always save `model`, the plain module
    if tc.compile:
        probe = collate([train_loader.dataset[i] for i in next(iter(sampler))])
        forward_model = compile_or_eager(model, probe, device, amp)
    if world > 1:
        # DDP averages gradients over ranks inside backward; its constructor broadcasts rank 0's weights.
        # The CTC warm-up leaves the predictor and decoder out of the graph: DDP must look for unused parameters.
        forward_model = DistributedDataParallel(forward_model, device_ids=[local_rank] if device.type == "cuda" else None,
                                                find_unused_parameters=tc.ctc_warmup_steps > 0)

    logger = RunLogger(run_dir, run_id=run_dir.name, model_type=cfg.model.name, console=console) if main \
        else distributed.QuietLogger()
    if history and not logger.history:
        logger.history = history  # resumed into a new run folder
    if main:
        dump_config(cfg, run_dir / "config.yaml")
    num_params = sum(p.numel() for p in model.parameters())
    logger.info(
        f"model={cfg.model.name} params={num_params / 1e6:.2f}M device={device} threads={torch.get_num_threads()} ({threads_why}) amp={amp.describe()} "
        f"compiled={forward_model is not model and tc.compile} fused_adamw={optimizer.defaults['fused']} steps/epoch={steps_per_epoch} total_steps={total_steps} | "
        f"batch {tc.batch_size}/process x {world} processes x {tc.grad_accum_steps} accumulation = "
        f"{tc.batch_size * world * tc.grad_accum_steps} utterances per optimizer step"
        + (f" | resumed from {resume} at step {step} (epoch {start_epoch + 1}, batch {start_batch})" if resume else "")
    )
    if device.type == "cpu" and saved_threads not in (None, torch.get_num_threads()):
        logger.info(f"warning: the run trained with {saved_threads} threads and resumes with {torch.get_num_threads()}: "
                    "float sums add up in another order, so it will not continue bit-identically; for an exact "
                    f"resume add --override training.num_threads={saved_threads}")
    if advice := sdpa_bf16_warning(amp, cfg.model.attention_impl):
        logger.info(f"warning: {advice}")

    def checkpoint_state(epoch: int, batch_in_epoch: int, rngs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "model": model.state_dict(),  # the unwrapped module, never the compiled/DDP wrapper
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(),
            "step": step,
            "epoch": epoch,  # the epoch in progress (0-based) ...
            "batch_in_epoch": batch_in_epoch,  # ... and how many of its batches are done (all ranks together)
            "world_size": world,
            "sampler": {"seed": tc.seed, "epoch": epoch, "start_batch": batch_in_epoch},
            "best_cer": best_cer,
            "train_seconds": train_seconds,
            "epoch_loss_sums": dict(epoch_sums),
            "rng": rngs[0],
            "rng_per_rank": rngs if world > 1 else [],  # each rank's streams: exact resume on the same world size
            "config": config_to_dict(cfg),
            "tokenizer": tokenizer.to_json(),
            "history": list(logger.history),
            "num_params": num_params,
            "num_threads": torch.get_num_threads(),  # resuming with another count is not bit-identical
            "extra": {},  # room for more real-audio state
        } | ({"cmvn": cmvn.to_dict()} if cmvn is not None else {})

    def save(path: Path, epoch: int, batches_done: int) -> None:
        """Every rank calls this (the RNG gather is collective); rank 0 writes, the others wait for the file."""
        rngs = distributed.gather_objects(capture_rng_state())
        if main:
            save_checkpoint(path, checkpoint_state(epoch, batches_done * world, rngs))
        distributed.barrier()

    last_row: dict[str, Any] = {}
    lr = lr_at(step, tc, total_steps)
    accum = tc.grad_accum_steps
    stop_now = False  # stop.requested as agreed by all ranks (one rank stopping alone would hang DDP)
    with _StopFlag(grace=2.0 if world > 1 else 0.0) as stop:
        for epoch in range(start_epoch, tc.num_epochs):
            if tc.max_steps and step >= tc.max_steps:
                break
            sampler.set_epoch(epoch, start_batch=start_batch)
            batches_done = start_batch
            if epoch != start_epoch:
                epoch_sums = {}
            start_batch = 0
            model.train()
            epoch_start = time.perf_counter()
            num_batches = len(train_loader)  # this rank's batches still to come in this epoch
            epoch_len = batches_done + num_batches
            micro = 0
            bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{tc.num_epochs}", leave=False,
                       disable=None if main else True, dynamic_ncols=True)
            for i, batch in enumerate(bar):
                # 1. learning rate for this optimizer step, from a pure function of the step
                if micro == 0:
                    lr = lr_at(step, tc, total_steps)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    if tc.ctc_warmup_steps:
                        model.ctc_only = step < tc.ctc_warmup_steps  # a pure function of the step: resumes exactly
                if world > 1:  # DDP all_reduces gradients only in the backward that ends a step (like no_sync())
                    forward_model.require_backward_grad_sync = micro + 1 == accum or i == num_batches - 1
                feats = batch["feats"].to(device)  # (B, T, F)
                feat_lens = batch["feat_lens"].to(device)  # (B,)
                tokens = batch["tokens"].to(device)  # (B, L)
                token_lens = batch["token_lens"].to(device)  # (B,)
                # 2. forward: a dict of named scalar losses, "loss" is the weighted total
                with amp.autocast():  # bf16/fp16 matmuls; weights, optimizer and losses stay fp32
                    losses = forward_model(feats, feat_lens, tokens, token_lens)
                values = loss_values(losses)
                values, stop_now = distributed.reduce_step_values(values, stop.requested)  # means over ranks
                if not math.isfinite(values["loss"]):
                    latest = ckpt_dir / "latest.pt"
                    good = str(latest) if latest.exists() else "none yet (no epoch finished)"
                    raise FloatingPointError(
                        f"loss is {values['loss']} at step {step} (epoch {epoch + 1}); terms {values}. "
                        f"Last good checkpoint: {good}. Lower training.learning_rate or training.max_grad_norm, "
                        "or turn off training.amp."
                    )
                # 3. backward; the loss is divided so that accumulated gradients average over micro-batches
                scaler.scale(losses["loss"] / accum).backward()
                micro += 1
                batches_done += 1
                for k, v in values.items():
                    epoch_sums[k] = epoch_sums.get(k, 0.0) + v
                    epoch_sums[f"_n_{k}"] = epoch_sums.get(f"_n_{k}", 0.0) + 1  # terms can be absent (CTC warm-up)
                epoch_sums["_batches"] = epoch_sums.get("_batches", 0.0) + 1
                if micro < accum and i < num_batches - 1:
                    continue
                # 4. clip (on unscaled gradients) and step; the scaler skips steps with inf gradients in fp16
                scaler.unscale_(optimizer)
                grad_norm = torch.nn.utils.clip_grad_norm_(
                    model.parameters(), tc.max_grad_norm if tc.max_grad_norm > 0 else float("inf")
                )
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                micro = 0
                # 5. log every loss term
                bar.set_postfix({k: f"{v:.3f}" for k, v in values.items()} | {"lr": f"{lr:.2e}"})
                if step % tc.log_every == 0 or step == 1:
                    terms = " ".join(f"{k}={v:.4f}" for k, v in values.items())
                    logger.info(f"step {step} epoch {epoch + 1} lr={lr:.3e} {terms} grad_norm={float(grad_norm):.3f}")
                if stop_now or (tc.max_steps and step >= tc.max_steps):
                    break
            bar.close()
            train_seconds += time.perf_counter() - epoch_start
            epoch_done = batches_done >= epoch_len

            if stop_now and not epoch_done:
                path = ckpt_dir / "latest.pt"
                save(path, epoch, batches_done)
                logger.info(f"interrupted at step {step}; saved {path}. Resume with:\n"
                            f"  python scripts/train.py --resume {path}")
                logger.close()
                raise TrainingInterrupted(path)

            # 6. validation: greedy decoding of the whole val split (under DDP each rank scores a shard),
            # from the CTC head when decode.method is a ctc_* one, so best.pt is the best for that decoder
            opts = decode_options(cfg, "ctc_greedy" if cfg.decode.method in CTC_METHODS else "greedy", 1)
            if tc.ctc_warmup_steps:
                model.ctc_only = False  # val_loss is always the full loss (the next step sets it again)
            # Validated in the precision it trains in (as eval.py/serve under --amp auto); only the model runs in it.
            val_model = autocast_model(model, amp)
            if world == 1:
                result = evaluate(val_model, val_loader, tokenizer, device, decode_opts=opts, compute_loss=True)
            else:
                shard = evaluate(val_model, val_loader, tokenizer, device, decode_opts=opts, compute_loss=True,
                                 detailed=True)
                result = distributed.reduce_eval_result(shard, len(val_loader))  # error counts summed over ranks
            n = max(epoch_sums.get("_batches", 1.0), 1.0)
            row = {"epoch": epoch + 1, "step": step, "lr": lr}
            row |= {f"train_{k}": v / epoch_sums.get(f"_n_{k}", n) for k, v in epoch_sums.items() if not k.startswith("_")}
            row |= {k: v for k, v in result.items() if k.startswith("val_")}
            row |= {k: result[k] for k in ("cer", "wer", "token_accuracy", "sequence_accuracy")}
            row |= {"decode_seconds": result["decode_seconds"], "train_seconds": train_seconds}
            logger.log_epoch(row)
            logger.info(
                f"epoch {epoch + 1} step {step}: val cer={row['cer']:.4f} wer={row['wer']:.4f} "
                f"token_acc={row['token_accuracy']:.4f} seq_acc={row['sequence_accuracy']:.4f} "
                f"val_loss={row.get('val_loss', float('nan')):.4f} ({train_seconds:.0f}s training)"
            )
            last_row = row

            # 7. checkpoints (best by validation CER)
            next_epoch, next_batch = (epoch + 1, 0) if epoch_done else (epoch, batches_done)
            if row["cer"] < best_cer:  # the same on every rank: the metrics were all_reduced
                best_cer = row["cer"]
                save(ckpt_dir / "best.pt", next_epoch, next_batch)
            save(ckpt_dir / "latest.pt", next_epoch, next_batch)
            if tc.keep_epoch_checkpoints > 0 and epoch_done:
                save(ckpt_dir / f"epoch_{epoch + 1}.pt", next_epoch, next_batch)
                if main:
                    prune_epoch_checkpoints(ckpt_dir, tc.keep_epoch_checkpoints)
            if stop_when is not None and stop_when(row):
                logger.info(f"stop_when met after epoch {epoch + 1} (step {step})")
                break

            if stop_now or distributed.any_rank(stop.requested):
                path = ckpt_dir / "latest.pt"
                logger.info(f"interrupted after epoch {epoch + 1}; saved {path}. Resume with:\n"
                            f"  python scripts/train.py --resume {path}")
                logger.close()
                raise TrainingInterrupted(path)
    # Plots once at the end: matplotlib costs seconds per figure on a busy CPU (metrics.json is live).
    if make_plots and main:
        plot_curves(logger.history, run_dir / "plots" / "curves.png")
    if make_plots and main and hasattr(model, "cif_alphas"):
        plot_cif_example(model, val_loader, tokenizer, cfg, device, run_dir / "plots" / "cif.png")
    logger.info(f"done: step {step}, best val cer {best_cer:.4f}; checkpoints in {ckpt_dir}; plots in {run_dir / 'plots'}")
    logger.close()
    return last_row


@torch.no_grad()
def plot_cif_example(
    model: torch.nn.Module,
    loader: torch.utils.data.DataLoader,
    tokenizer: CharTokenizer,
    cfg: ExperimentConfig,
    device: torch.device,
    out: Path,
) -> None:
    """CIF plot of one validation utterance (alpha per frame, fires, target characters)."""
    was_training = model.training
    model.eval()
    batch = next(iter(loader))
    b = int(batch["feat_lens"].argmax())  # the longest utterance of the batch shows the most fires
    n = int(batch["feat_lens"][b])
    feats = batch["feats"][b : b + 1, :n].to(device)  # (1, T, F)
    feat_lens = batch["feat_lens"][b : b + 1].to(device)  # (1,)
    alphas, enc_lens = model.cif_alphas(feats, feat_lens)  # (1, T'), (1,)
    hyp = model.decode(feats, feat_lens, method="greedy")[0]
    plot_cif(alphas[0, : int(enc_lens[0])], batch["texts"][b], out,
             threshold=cfg.model.predictor.threshold, hypothesis=tokenizer.decode(hyp.tokens))
    model.train(was_training)
