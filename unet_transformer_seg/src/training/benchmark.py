"""Speed benchmark: training and inference images/s, FLOPs, achieved GFLOP/s, peak memory.

What ``scripts/benchmark.py`` runs to fill in docs/BENCHMARKS.md. Every case is one
(model config, image size, attention path, memory layout) on random data of the right
shapes, so data loading is not timed:

- train: ``zero_grad -> forward -> loss -> backward -> clip -> AdamW step`` exactly as in
  ``src/training/trainer.py`` (fp32; AMP is not used, so the numbers compare with the
  fp32 matmul peak);
- infer: ``model.eval()`` forward under ``torch.inference_mode``.

Each case runs ``warmup`` untimed steps, then ``repeats`` timed blocks of
``steps_per_repeat`` steps; a block's images/s is one sample, and the table shows the
median with the min-max spread. FLOPs come from ``FlopCounterMode`` (matmuls,
convolutions and attention products only; normalisation, activations, the loss and the
optimizer are not counted), always counted on the ``math`` attention path because the
counter does not know every fused SDPA kernel; the arithmetic is the same on both paths.
"""

from __future__ import annotations

import ctypes
import dataclasses
import gc
import math
import os
import platform
import resource
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from src.losses import build_loss
from src.models import build_model
from src.training.trainer import build_optimizer
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
    batch_size: int = 16
    warmup: int = 3  # untimed steps per case (allocator, caches, lazy init)
    repeats: int = 7  # timed blocks per case; the table shows their median and min-max
    steps_per_repeat: int = 3  # steps per timed block
    matmul_n: int = 2048  # the peak probe multiplies two n x n fp32 matrices
    matmul_repeats: int = 10
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # torch intra-op threads; 0 = torch's default
    seed: int = 0
    profile: bool = False  # torch.profiler over a few training steps, top ops by self CPU time
    profile_size: int = 128
    profile_steps: int = 5
    profile_rows: int = 25


# --quick: seconds, for smoke tests and CI; the numbers mean nothing.
QUICK = dict(sizes=[32], batch_size=2, warmup=1, repeats=2, steps_per_repeat=1, matmul_n=256, matmul_repeats=2,
             profile_size=32, profile_steps=2)


# --------------------------------------------------------------------------- #
# Machine, memory and timing helpers                                           #
# --------------------------------------------------------------------------- #
def machine_info(device: torch.device) -> dict[str, Any]:
    """CPU model (/proc/cpuinfo), cores, torch version and threads, device, load, UTC date."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
    }
    return info


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _status_kb(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return None


class PeakMemory:
    """Peak memory of one case, in MB.

    CUDA: ``torch.cuda.max_memory_allocated`` (tensors only), reset per case.
    CPU: the process's resident set (RSS), which holds tensors *and* everything else;
    Linux lets us reset its high-water mark (``/proc/self/clear_refs``), so the value is
    the peak RSS during the case minus the RSS before it. Without that reset only the
    monotonic ``getrusage`` maximum exists and the delta reads 0 unless the case set a
    new process-wide peak (``method`` says which was used).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.method = "cuda_max_memory_allocated" if device.type == "cuda" else "rss"
        self.base_kb = 0.0

    def start(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base_kb = torch.cuda.memory_allocated(self.device) / 1024
            return
        try:  # hand freed heap pages back first, so the baseline is what is really in use
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
        try:
            Path("/proc/self/clear_refs").write_text("5")  # 5 = reset the peak RSS (VmHWM) to the current RSS
            self.method = "rss_hwm_reset"
            self.base_kb = _status_kb("VmRSS") or 0.0
        except OSError:
            self.method = "rss_getrusage"
            self.base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def stop(self) -> dict[str, float]:
        """{"peak_mem_mb": the case's extra peak, "peak_total_mb": absolute peak}."""
        _sync(self.device)
        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device) / 1024
        elif self.method == "rss_hwm_reset":
            peak = _status_kb("VmHWM") or 0.0
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {"peak_mem_mb": round(max(peak - self.base_kb, 0.0) / 1024, 1), "peak_total_mb": round(peak / 1024, 1)}


def summarize(samples: list[float]) -> dict[str, float]:
    """Median, min, max and the quartiles of ``samples``."""
    q = statistics.quantiles(samples, n=4, method="inclusive") if len(samples) > 1 else [samples[0]] * 3
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "q1": q[0], "q3": q[2], "samples": len(samples)}


def time_throughput(step: Callable[[], None], *, items_per_step: int, warmup: int, repeats: int,
                    steps_per_repeat: int, device: torch.device) -> dict[str, float]:
    """Items/s of ``step``: ``warmup`` untimed calls, then ``repeats`` timed blocks of ``steps_per_repeat``."""
    for _ in range(warmup):
        step()
    _sync(device)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps_per_repeat):
            step()
        _sync(device)  # CUDA kernels run asynchronously; stop the clock when they are done
        rates.append(items_per_step * steps_per_repeat / (time.perf_counter() - t0))
    return summarize(rates)


def matmul_peak(n: int, repeats: int, device: torch.device) -> dict[str, float]:
    """Measured fp32 matmul GFLOP/s: an (n, n) @ (n, n) product costs 2 n^3 FLOPs."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    out = torch.empty(n, n, device=device)

    def step() -> None:
        torch.matmul(a, b, out=out)

    stats = time_throughput(step, items_per_step=1, warmup=2, repeats=repeats, steps_per_repeat=1, device=device)
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


def _train_step(model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor,
                masks: torch.Tensor, max_grad_norm: float) -> Callable[[], None]:
    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        logits = model(images)  # (B, K, H, W)
        loss_fn(logits.float(), masks)["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm if max_grad_norm > 0 else math.inf)
        optimizer.step()

    return step


def _infer_step(model: nn.Module, images: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        with torch.inference_mode():
            model(images)  # (B, K, H, W)

    return step


def run_case(cfg: ExperimentConfig, bench: BenchmarkConfig, *, size: int, channels_last: bool,
             device: torch.device) -> dict[str, Any]:
    """Training and inference throughput and peak memory of one (config, size, attention, layout)."""
    torch.manual_seed(bench.seed)
    b = bench.batch_size
    model = build_model(cfg.model).to(device)
    images = torch.randn(b, cfg.model.in_channels, size, size, device=device)  # (B, C, H, W)
    masks = torch.randint(0, cfg.model.num_classes, (b, size, size), device=device)  # (B, H, W)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    loss_fn = build_loss(cfg.loss, cfg.model.num_classes, cfg.data.ignore_index)
    optimizer = build_optimizer(model, cfg)
    timing = dict(warmup=bench.warmup, repeats=bench.repeats, steps_per_repeat=bench.steps_per_repeat, device=device)

    memory = PeakMemory(device)
    memory.start()
    model.train()
    train = time_throughput(_train_step(model, loss_fn, optimizer, images, masks, cfg.training.max_grad_norm),
                            items_per_step=b, **timing)
    train_mem = memory.stop()
    optimizer.zero_grad(set_to_none=True)
    memory.start()
    model.eval()
    infer = time_throughput(_infer_step(model, images), items_per_step=b, **timing)
    infer_mem = memory.stop()
    return {"train_images_per_s": train, "infer_images_per_s": infer,
            "train_peak_mem_mb": train_mem["peak_mem_mb"], "infer_peak_mem_mb": infer_mem["peak_mem_mb"],
            "peak_total_mb": max(train_mem["peak_total_mb"], infer_mem["peak_total_mb"]),
            "memory_method": memory.method, "num_params": sum(p.numel() for p in model.parameters())}


def profile_training(cfg: ExperimentConfig, bench: BenchmarkConfig, device: torch.device) -> str:
    """torch.profiler table (top ops by self CPU time) of a few training steps at ``profile_size``."""
    from torch.profiler import ProfilerActivity, profile

    size = bench.profile_size
    torch.manual_seed(bench.seed)
    model = build_model(cfg.model).to(device).train()
    images = torch.randn(bench.batch_size, cfg.model.in_channels, size, size, device=device)  # (B, C, H, W)
    masks = torch.randint(0, cfg.model.num_classes, (bench.batch_size, size, size), device=device)  # (B, H, W)
    loss_fn = build_loss(cfg.loss, cfg.model.num_classes, cfg.data.ignore_index)
    step = _train_step(model, loss_fn, build_optimizer(model, cfg), images, masks, cfg.training.max_grad_norm)
    step()  # warm-up outside the trace
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(bench.profile_steps):
            step()
        _sync(device)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=bench.profile_rows)


# --------------------------------------------------------------------------- #
# The whole benchmark                                                          #
# --------------------------------------------------------------------------- #
def run_benchmark(bench: BenchmarkConfig, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every case of ``bench``; returns the JSON-ready result (machine, settings, peak, rows, profiles)."""
    if bench.threads > 0:
        torch.set_num_threads(bench.threads)
    device = resolve_device(bench.device)
    machine = machine_info(device)
    log(f"machine: {machine}")
    peak = matmul_peak(bench.matmul_n, bench.matmul_repeats, device)
    log(f"fp32 matmul {bench.matmul_n}^3: {peak['median']:.1f} GFLOP/s (median)")
    peak_gflops = peak["median"]

    rows: list[dict[str, Any]] = []
    flops_cache: dict[tuple[str, int], dict[str, float]] = {}
    layouts = [False, True] if bench.channels_last else [False]
    for path in bench.configs:
        for size in bench.sizes:
            base = case_config(path, size, "math", bench.batch_size)
            # The attention path only exists in the hybrid; the plain U-Net gets one row.
            impls = bench.attention_impls if base.model.name == "unet_transformer" else ["n/a"]
            key = (path, size)
            if key not in flops_cache:
                flops_cache[key] = count_flops(base, size, device)
            flops = flops_cache[key]
            for impl in impls:
                cfg = base if impl == "n/a" else case_config(path, size, impl, bench.batch_size)
                for cl in layouts:
                    result = run_case(cfg, bench, size=size, channels_last=cl, device=device)
                    train_gflops = flops["train_flops_per_image"] * result["train_images_per_s"]["median"] / 1e9
                    infer_gflops = flops["forward_flops_per_image"] * result["infer_images_per_s"]["median"] / 1e9
                    row = {"config": path, "model": cfg.model.name, "size": size, "attention": impl,
                           "layout": "channels_last" if cl else "nchw", "batch_size": bench.batch_size, **flops,
                           **result, "train_gflops_per_s": train_gflops, "infer_gflops_per_s": infer_gflops,
                           "train_fraction_of_peak": train_gflops / peak_gflops,
                           "infer_fraction_of_peak": infer_gflops / peak_gflops}
                    rows.append(row)
                    log(f"{cfg.model.name} {size}x{size} attention={impl} {row['layout']}: "
                        f"train {result['train_images_per_s']['median']:.1f} img/s "
                        f"({100 * row['train_fraction_of_peak']:.1f}% of peak), "
                        f"infer {result['infer_images_per_s']['median']:.1f} img/s")
    profiles: dict[str, str] = {}
    if bench.profile:
        for path in bench.configs:
            cfg = case_config(path, bench.profile_size, bench.attention_impls[-1], bench.batch_size)
            profiles[f"{cfg.model.name} {bench.profile_size}x{bench.profile_size}"] = profile_training(cfg, bench, device)
    return {"machine": machine, "settings": dataclasses.asdict(bench), "matmul_peak_gflops": peak,
            "flops_note": "FlopCounterMode: matmul/conv/attention products only, math attention path; "
                          "train = forward + backward as autograd runs it (no input gradient for the first conv)",
            "memory_note": ("CUDA max_memory_allocated (tensors only)" if device.type == "cuda" else
                            "CPU: peak RSS during the case minus RSS before it (whole process, not only tensors)"),
            "rows": rows, "profiles": profiles}


def _rate(stats: dict[str, float]) -> str:
    return f"{stats['median']:.1f} ({stats['min']:.1f}-{stats['max']:.1f})"


def markdown_report(result: dict[str, Any], command: str = "") -> str:
    """The results as markdown: command, machine, peak line and one table row per case."""
    m = result["machine"]
    peak = result["matmul_peak_gflops"]
    s = result["settings"]
    lines = []
    if command:
        lines.append(f"Command: `{command}`\n")
    lines += [f"Machine: {m['cpu']}; {m['logical_cores']} logical cores; torch {m['torch']} with {m['threads']} "
              f"threads; device {m['device']}{' (' + m['gpu'] + ')' if m['gpu'] else ''}; "
              f"load average {m['load_average_1min']}; {m['date_utc']} UTC\n",
              f"Measured fp32 matmul peak ({peak['n']}x{peak['n']}): **{peak['median']:.1f} GFLOP/s** "
              f"(min {peak['min']:.1f}, max {peak['max']:.1f}). Batch {s['batch_size']}, {s['warmup']} warm-up steps, "
              f"{s['repeats']} timed blocks of {s['steps_per_repeat']} steps; rates are median (min-max).\n",
              "| model | size | attention | layout | train img/s | infer img/s | fwd GFLOP/img | train GFLOP/img "
              "| train GFLOP/s | train % of peak | infer GFLOP/s | infer % of peak | peak mem train / infer (MB) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(
            f"| {r['model']} | {r['size']} | {r['attention']} | {r['layout']} | {_rate(r['train_images_per_s'])} "
            f"| {_rate(r['infer_images_per_s'])} | {r['forward_flops_per_image'] / 1e9:.3f} "
            f"| {r['train_flops_per_image'] / 1e9:.3f} | {r['train_gflops_per_s']:.1f} "
            f"| {100 * r['train_fraction_of_peak']:.1f} | {r['infer_gflops_per_s']:.1f} "
            f"| {100 * r['infer_fraction_of_peak']:.1f} | {r['train_peak_mem_mb']:.0f} / {r['infer_peak_mem_mb']:.0f} |")
    lines.append(f"\nMemory: {result['memory_note']}. FLOPs: {result['flops_note']}.")
    return "\n".join(lines) + "\n"


def target_verdicts(result: dict[str, Any]) -> str:
    """The issue's targets, checked on these numbers: sdpa vs math, U-Net at 128 vs 30% of peak."""
    rows = result["rows"]
    lines = []
    for r in rows:
        if r["attention"] != "sdpa":
            continue
        twin = next((m for m in rows if m["attention"] == "math" and m["config"] == r["config"]
                     and m["size"] == r["size"] and m["layout"] == r["layout"]), None)
        if twin is None:
            continue
        for kind in ("train", "infer"):
            ratio = r[f"{kind}_images_per_s"]["median"] / twin[f"{kind}_images_per_s"]["median"]
            lines.append(f"- {r['model']} {r['size']}x{r['size']} {r['layout']} {kind}: sdpa / math = {ratio:.2f}x "
                         f"({'not slower' if ratio >= 1.0 else 'SLOWER'})")
    for r in rows:
        if r["model"] == "unet" and r["size"] == 128:
            frac = r["train_fraction_of_peak"]
            lines.append(f"- unet 128x128 {r['layout']} training: {100 * frac:.1f}% of the fp32 matmul peak "
                         f"({'meets' if frac >= 0.30 else 'MISSES'} the 30% target)")
    return "\n".join(lines)


def write_profiles(profiles: dict[str, str], path: str | Path) -> None:
    text = "\n\n".join(f"== {name}: top ops by self CPU time ==\n{table}" for name, table in profiles.items())
    Path(path).write_text(text + "\n")


__all__ = ["QUICK", "BenchmarkConfig", "markdown_report", "matmul_peak", "run_benchmark", "target_verdicts",
           "write_profiles"]
