"""Speed benchmark: training and inference images/s, FLOPs, achieved GFLOP/s, peak memory.

What ``scripts/benchmark.py`` runs to fill in docs/BENCHMARKS.md. Every case is one
(model config, image size, attention path, memory layout) on random data of the right
shapes, so data loading is not timed:

- train: ``zero_grad -> forward -> loss -> backward -> clip -> AdamW step`` exactly as in
  ``src/training/trainer.py``, in each of ``precisions``: ``fp32``, and ``bf16`` = autocast
  as ``training.amp`` does it (norms and losses in fp32, src/utils/amp.py);
- infer: ``model.eval()`` forward under ``torch.inference_mode`` (and the same autocast).

Row ``fp32 / nchw`` is the fp32 path as it was before ``training.amp=auto`` and
``training.channels_last=auto``; the speed-up table compares every row with it. On a CPU
without native bf16 the bf16 rows run emulated (the header says which CPU this is).

Each case runs ``warmup`` untimed steps, then ``repeats`` timed blocks of
``steps_per_repeat`` steps; a block's images/s is one sample, and the table shows the
median with the min-max spread. The variants of one (config, size) alternate block by
block, so changing load on a shared machine hits them alike. FLOPs come from ``FlopCounterMode`` (matmuls,
convolutions and attention products only; normalisation, activations, the loss and the
optimizer are not counted), always counted on the ``math`` attention path because the
counter does not know every fused SDPA kernel; the arithmetic is the same on both paths.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from src.losses import build_loss
from src.models import build_model
from src.bench.bench_utils import PeakMemory, machine_info, sync, time_throughput
from src.training.trainer import build_optimizer
from src.utils.amp import cpu_bf16_capability, keep_norms_fp32
from src.utils.config import ExperimentConfig, load_config
from src.utils.tensor_utils import resolve_device

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class BenchmarkConfig:
    """The single source of the benchmark's defaults (``scripts/benchmark.py`` flags mirror these)."""

    configs: list[str] = field(default_factory=lambda: ["configs/unet_baseline.yaml", "configs/unet_transformer.yaml"])
    sizes: list[int] = field(default_factory=lambda: [64, 128])  # square image sides
    attention_impls: list[str] = field(default_factory=lambda: ["math", "sdpa"])  # unet_transformer only
    channels_last: bool = False  # also run every case in channels_last (an extra "layout" row)
    precisions: list[str] = field(default_factory=lambda: ["fp32", "bf16"])  # bf16 = CPU/CUDA autocast
    compile: bool = False  # also run the last layout with torch.compile (layout "<layout>+compile")
    batch_size: int = 16
    warmup: int = 3  # untimed steps per case (allocator, caches, lazy init)
    repeats: int = 7  # timed blocks per case; the table shows their median and min-max
    steps_per_repeat: int = 3  # steps per timed block
    matmul_n: int = 2048  # the peak probe multiplies two n x n fp32 matrices
    matmul_repeats: int = 10
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # torch intra-op threads; 0 = torch's default
    seed: int = 0
    profile: bool = False  # torch.profiler over a few training steps per config (hybrid: last attention path;
    # last precision; channels_last when --channels-last)
    profile_size: int = 128
    profile_steps: int = 5
    profile_rows: int = 25


# --quick: seconds, for smoke tests and CI; the numbers mean nothing.
QUICK = dict(sizes=[32], batch_size=2, warmup=1, repeats=2, steps_per_repeat=1, matmul_n=256, matmul_repeats=2,
             profile_size=32, profile_steps=2)


# --------------------------------------------------------------------------- #
# The machine's fp32 matmul peak                                               #
# --------------------------------------------------------------------------- #
PRECISION_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def matmul_peak(n: int, repeats: int, device: torch.device, dtype: torch.dtype = torch.float32) -> dict[str, float]:
    """Measured matmul GFLOP/s in ``dtype``: an (n, n) @ (n, n) product costs 2 n^3 FLOPs."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)

    def step() -> None:
        torch.matmul(a, b, out=out)

    stats = time_throughput({"matmul": step}, items_per_step=1, warmup=2, repeats=repeats, steps_per_repeat=1,
                            device=device)["matmul"]
    gflop = 2 * n**3 / 1e9
    return {"n": n, **{k: (v if k == "samples" else v * gflop) for k, v in stats.items()}}


# --------------------------------------------------------------------------- #
# One case                                                                     #
# --------------------------------------------------------------------------- #
def case_config(path: str, size: int, attention_impl: str, batch_size: int) -> ExperimentConfig:
    """The experiment config at ``path`` with the benchmark's image size, batch and attention path."""
    p = Path(path)
    if not p.is_file() and (PROJECT_ROOT / p).is_file():
        p = PROJECT_ROOT / p
    overrides = [f"data.image_size={size}", f"training.batch_size={batch_size}",
                 f"model.attention_impl={attention_impl}"]
    return load_config(p, overrides)


def count_flops(cfg: ExperimentConfig, size: int, device: torch.device) -> dict[str, float]:
    """FLOPs per image of the forward pass and of forward + loss + backward (math attention path).

    Counted on a batch of 2 in training mode and divided by 2. The backward count is
    what autograd really runs: no input gradient for the first conv, so it is a bit
    under 2x the forward (the usual "training = 3x forward" is an upper estimate).
    """
    torch.manual_seed(0)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, attention_impl="math"))
    model = build_model(cfg.model).to(device).train()
    loss_fn = build_loss(cfg.loss, cfg.model.num_classes, cfg.data.ignore_index)
    images = torch.randn(2, cfg.model.in_channels, size, size, device=device)  # (B, C, H, W)
    masks = torch.randint(0, cfg.model.num_classes, (2, size, size), device=device)  # (B, H, W)
    with FlopCounterMode(display=False) as fwd_counter:
        logits = model(images)  # (B, K, H, W)
    forward = fwd_counter.get_total_flops() / 2
    with FlopCounterMode(display=False) as train_counter:
        loss_fn(model(images).float(), masks)["loss"].backward()
    train = train_counter.get_total_flops() / 2
    del logits
    return {"forward_flops_per_image": forward, "train_flops_per_image": train}


def _autocast(device: torch.device, precision: str):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def _train_step(model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor,
                masks: torch.Tensor, max_grad_norm: float, precision: str = "fp32") -> Callable[[], None]:
    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with _autocast(images.device, precision):
            logits = model(images)  # (B, K, H, W)
        loss_fn(logits.float(), masks)["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm if max_grad_norm > 0 else math.inf)
        optimizer.step()

    return step


def _infer_step(model: nn.Module, images: torch.Tensor, precision: str = "fp32") -> Callable[[], None]:
    def step() -> None:
        with torch.inference_mode(), _autocast(images.device, precision):
            model(images)  # (B, K, H, W)

    return step


def run_cases(cfgs: dict[tuple[str, str], ExperimentConfig], bench: BenchmarkConfig, *, size: int,
              device: torch.device) -> dict[tuple[str, str], dict[str, Any]]:
    """Training and inference throughput and peak memory of the variants of one (config, size).

    ``cfgs`` maps a variant ``(attention, layout, precision)`` to its config; layout
    ``channels_last`` runs model and images in that memory format, precision ``bf16`` under
    autocast. Every variant has its own model (same initial weights) and data; the timed
    blocks alternate between variants. Peak memory is taken over each variant's warm-up
    steps alone (the first training step allocates the AdamW state).
    """
    b = bench.batch_size
    train_steps, infer_steps, models, memory = {}, {}, {}, PeakMemory(device)
    for name, cfg in cfgs.items():
        torch.manual_seed(bench.seed)
        model = keep_norms_fp32(build_model(cfg.model).to(device))
        images = torch.randn(b, cfg.model.in_channels, size, size, device=device)  # (B, C, H, W)
        masks = torch.randint(0, cfg.model.num_classes, (b, size, size), device=device)  # (B, H, W)
        if name[1].startswith("channels_last"):
            model = model.to(memory_format=torch.channels_last)
            images = images.contiguous(memory_format=torch.channels_last)
        # "+compile": torch.compile'd forward (the warm-up steps below pay for the compilation).
        forward = torch.compile(model) if name[1].endswith("+compile") else model
        loss_fn = build_loss(cfg.loss, cfg.model.num_classes, cfg.data.ignore_index)
        optimizer = build_optimizer(model, cfg)
        train_steps[name] = _train_step(forward, loss_fn, optimizer, images, masks, cfg.training.max_grad_norm,
                                        name[2])
        infer_steps[name] = _infer_step(forward, images, name[2])
        models[name] = model
    results: dict[tuple[str, str], dict[str, Any]] = {name: {} for name in cfgs}
    timing = dict(items_per_step=b, warmup=0, repeats=bench.repeats, steps_per_repeat=bench.steps_per_repeat,
                  device=device)
    for phase, steps in (("train", train_steps), ("infer", infer_steps)):
        for name, step in steps.items():
            models[name].train(phase == "train")
            memory.start()
            for _ in range(max(bench.warmup, 1)):
                step()
            mem = memory.stop()
            results[name][f"{phase}_peak_mem_mb"] = mem["peak_mem_mb"]
            results[name]["peak_total_mb"] = max(results[name].get("peak_total_mb", 0.0), mem["peak_total_mb"])
        for name, stats in time_throughput(steps, **timing).items():
            results[name][f"{phase}_images_per_s"] = stats
    for name, model in models.items():
        results[name].update(memory_method=memory.method, num_params=sum(p.numel() for p in model.parameters()))
    return results


def profile_training(cfg: ExperimentConfig, bench: BenchmarkConfig, device: torch.device) -> str:
    """torch.profiler table (top ops by self CPU time) of a few training steps at ``profile_size``."""
    from torch.profiler import ProfilerActivity, profile

    size = bench.profile_size
    torch.manual_seed(bench.seed)
    model = keep_norms_fp32(build_model(cfg.model).to(device).train())
    images = torch.randn(bench.batch_size, cfg.model.in_channels, size, size, device=device)  # (B, C, H, W)
    masks = torch.randint(0, cfg.model.num_classes, (bench.batch_size, size, size), device=device)  # (B, H, W)
    if bench.channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    loss_fn = build_loss(cfg.loss, cfg.model.num_classes, cfg.data.ignore_index)
    step = _train_step(model, loss_fn, build_optimizer(model, cfg), images, masks, cfg.training.max_grad_norm,
                       bench.precisions[-1])
    step()  # warm-up outside the trace
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(bench.profile_steps):
            step()
        sync(device)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=bench.profile_rows)


# --------------------------------------------------------------------------- #
# The whole benchmark                                                          #
# --------------------------------------------------------------------------- #
def run_benchmark(bench: BenchmarkConfig, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every case of ``bench``; returns the JSON-ready result (machine, settings, peak, rows, profiles)."""
    if bench.threads > 0:
        torch.set_num_threads(bench.threads)
    device = resolve_device(bench.device)
    for p in bench.precisions:
        if p not in PRECISION_DTYPES:
            raise ValueError(f"unknown precision {p!r} in --precisions; use {' '.join(PRECISION_DTYPES)}")
    machine = machine_info(device)
    machine["bf16_native"], machine["bf16_reason"] = cpu_bf16_capability() if device.type == "cpu" else (
        torch.cuda.is_bf16_supported(including_emulation=False), "gpu")
    log(f"machine: {machine}")
    peak_before = matmul_peak(bench.matmul_n, bench.matmul_repeats, device)
    log(f"fp32 matmul {bench.matmul_n}^3: {peak_before['median']:.1f} GFLOP/s (median)")
    peaks_bf16 = []
    if "bf16" in bench.precisions:
        peaks_bf16.append(matmul_peak(bench.matmul_n, bench.matmul_repeats, device, torch.bfloat16))
        log(f"bf16 matmul {bench.matmul_n}^3: {peaks_bf16[0]['median']:.1f} GFLOP/s (median)")

    rows: list[dict[str, Any]] = []
    flops_cache: dict[tuple[str, int], dict[str, float]] = {}
    layouts = ["nchw", "channels_last"] if bench.channels_last else ["nchw"]
    if bench.compile:
        layouts.append(f"{layouts[-1]}+compile")
    for path in bench.configs:
        for size in bench.sizes:
            base = case_config(path, size, "math", bench.batch_size)
            # The attention path only exists in the hybrid; the plain U-Net gets one row.
            impls = bench.attention_impls if base.model.name == "unet_transformer" else ["n/a"]
            key = (path, size)
            if key not in flops_cache:
                flops_cache[key] = count_flops(base, size, device)
            flops = flops_cache[key]
            cfgs = {}
            for impl in impls:
                cfg = base if impl == "n/a" else case_config(path, size, impl, bench.batch_size)
                for precision in bench.precisions:
                    for layout in layouts:
                        cfgs[(impl, layout, precision)] = cfg
            for (impl, layout, precision), result in run_cases(cfgs, bench, size=size, device=device).items():
                train_gflops = flops["train_flops_per_image"] * result["train_images_per_s"]["median"] / 1e9
                infer_gflops = flops["forward_flops_per_image"] * result["infer_images_per_s"]["median"] / 1e9
                row = {"config": path, "model": base.model.name, "size": size, "attention": impl, "layout": layout,
                       "precision": precision, "batch_size": bench.batch_size, **flops, **result, "train_gflops_per_s": train_gflops,
                       "infer_gflops_per_s": infer_gflops}
                rows.append(row)
                log(f"{base.model.name} {size}x{size} attention={impl} {layout} {precision}: "
                    f"train {result['train_images_per_s']['median']:.1f} img/s ({train_gflops:.1f} GFLOP/s), "
                    f"infer {result['infer_images_per_s']['median']:.1f} img/s")
    # The peak is probed again at the end and the better of the two kept: a probe that
    # happened to meet other load would otherwise inflate every "% of peak".
    peak_after = matmul_peak(bench.matmul_n, bench.matmul_repeats, device)
    log(f"fp32 matmul {bench.matmul_n}^3 again: {peak_after['median']:.1f} GFLOP/s (median)")
    peak = max(peak_before, peak_after, key=lambda p: p["median"])
    peak_bf16 = None
    if peaks_bf16:
        peaks_bf16.append(matmul_peak(bench.matmul_n, bench.matmul_repeats, device, torch.bfloat16))
        log(f"bf16 matmul {bench.matmul_n}^3 again: {peaks_bf16[1]['median']:.1f} GFLOP/s (median)")
        peak_bf16 = max(peaks_bf16, key=lambda p: p["median"])
    for row in rows:
        # % of the peak of the row's own precision: bf16 rows against the bf16 matmul peak.
        ref = (peak_bf16 if row["precision"] == "bf16" else peak)["median"]
        row["train_fraction_of_peak"] = row["train_gflops_per_s"] / ref
        row["infer_fraction_of_peak"] = row["infer_gflops_per_s"] / ref
    profiles: dict[str, str] = {}
    if bench.profile:
        for path in bench.configs:
            cfg = case_config(path, bench.profile_size, bench.attention_impls[-1], bench.batch_size)
            profiles[f"{cfg.model.name} {bench.profile_size}x{bench.profile_size}"] = profile_training(cfg, bench, device)
    return {"machine": machine, "settings": dataclasses.asdict(bench), "matmul_peak_gflops": peak,
            "matmul_peak_probes_median_gflops": [peak_before["median"], peak_after["median"]],
            "matmul_peak_bf16_gflops": peak_bf16,
            "flops_note": "FlopCounterMode: matmul/conv/attention products only, math attention path; "
                          "train = forward + backward as autograd runs it (no input gradient for the first conv)",
            "memory_note": ("CUDA max_memory_allocated during the variant's warm-up steps (tensors only)" if device.type == "cuda" else
                            "CPU: peak RSS during the variant's warm-up steps minus RSS before them (whole process, not only tensors)"),
            "rows": rows, "profiles": profiles}


__all__ = ["QUICK", "BenchmarkConfig", "matmul_peak", "run_benchmark"]
