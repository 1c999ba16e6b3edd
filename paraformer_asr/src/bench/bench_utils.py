"""Benchmark plumbing: machine description, timing with warm-up and repeats, peak memory.

Kept apart from ``benchmark.py`` (what is measured) so that file reads as the list of
measurements.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import platform
import resource
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch

from src.utils.amp import AmpChoice, cpu_bf16_capability


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
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "cpu_flags": cpu_flags(),
        "bf16": bf16_capability(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
    }


PRECISIONS = ("fp32", "bf16")


def precision_choice(name: str, device: torch.device) -> AmpChoice:
    """The autocast of one benchmark row: ``fp32`` (none) or ``bf16`` (forced, native or not: the header says which)."""
    if name not in PRECISIONS:
        raise ValueError(f"precision {name!r} must be one of {', '.join(PRECISIONS)}")
    if name == "fp32":
        return AmpChoice(None, device.type, "fp32")
    return AmpChoice(torch.bfloat16, device.type, "bf16 autocast")


def bf16_capability(device: torch.device) -> str:
    """What the report header says about bf16 on ``device``: native or emulated, and why."""
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported(including_emulation=False)
        return f"{'native' if native else 'emulated'} (gpu {'has' if native else 'lacks'} native bf16)"
    native, why = cpu_bf16_capability()
    return f"{'native' if native else 'emulated'} ({why})"


def cpu_flags(names: tuple[str, ...] = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16")) -> str:
    """The speed-relevant x86 flags this CPU has (Arm: its bf16 feature), for the machine line."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            have = set(value.split())
            return " ".join(n for n in (*names, "bf16") if n in have)
    return ""


def machine_line(m: dict[str, Any]) -> str:
    """One line for the markdown report."""
    gpu = f" ({m['gpu']})" if m.get("gpu") else ""
    flags = f" (flags: {m['cpu_flags']})" if m.get("cpu_flags") else ""
    return (f"{m['cpu']}{flags}; bf16 {m.get('bf16', 'unknown')}; {m['logical_cores']} logical cores; torch {m['torch']} with {m['threads']} threads; "
            f"device {m['device']}{gpu}; load average {m['load_average_1min']}; {m['date_utc']} UTC")


def add_micro_bench_arguments(parser: Any) -> None:
    """--warmup, --repeats, --threads and --out of the one-component benchmarks (bench_ctc_loss.py, bench_front_end.py)."""
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads; 0 = torch's default")
    parser.add_argument("--out", type=Path, help="also write the rows and the machine as JSON")


def run_micro_bench(args: Any, bench: Callable[[], list[dict[str, Any]]], table: Callable[[list[dict[str, Any]]], str]) -> int:
    """Set --threads, run ``bench``, print the machine line and ``table(rows)``, write --out; the exit status."""
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = machine_info(torch.device("cpu"))
    rows = bench()
    print(machine_line(machine))
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    return 0


def sync(device: torch.device) -> None:
    """Wait for queued CUDA kernels, so the clock measures work done, not work launched."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def summarize(samples: list[float]) -> dict[str, float]:
    """Median, min, max and quartiles of ``samples``."""
    q = statistics.quantiles(samples, n=4, method="inclusive") if len(samples) > 1 else [samples[0]] * 3
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "q1": q[0], "q3": q[2], "samples": len(samples)}


def time_repeats(run: Callable[[], None], *, warmup: int, repeats: int, device: torch.device) -> list[float]:
    """Seconds of each of ``repeats`` timed calls of ``run``, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        run()
    sync(device)
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        sync(device)
        seconds.append(time.perf_counter() - t0)
    return seconds


def time_interleaved(runs: dict[str, Callable[[], None]], *, warmup: int, repeats: int,
                     device: torch.device) -> dict[str, list[float]]:
    """Like :func:`time_repeats` for several variants, alternating them run by run.

    A change in machine load during the measurement then slows every variant alike,
    which keeps their ratio (e.g. sdpa vs math) honest on a shared machine.
    """
    for _ in range(warmup):
        for run in runs.values():
            run()
    sync(device)
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            sync(device)
            seconds[name].append(time.perf_counter() - t0)
    return seconds


def _status_kb(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return None


class PeakMemory:
    """Peak memory of one measurement, in MB.

    CUDA: ``torch.cuda.max_memory_allocated`` (tensors only), reset at ``start``.
    CPU: resident set size (RSS) of the whole process, tensors and everything else.
    Linux can reset the RSS high-water mark (``/proc/self/clear_refs``), so the value is
    the peak RSS during the measurement minus the RSS at its start; elsewhere only the
    monotonic ``getrusage`` maximum exists (``method`` says which was used).
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
        try:  # return freed heap pages first, so the baseline is memory really in use
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
        try:
            Path("/proc/self/clear_refs").write_text("5")  # 5 = reset VmHWM to the current RSS
            self.method = "rss_hwm_reset"
            self.base_kb = _status_kb("VmRSS") or 0.0
        except OSError:
            self.method = "rss_getrusage"
            self.base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def stop(self) -> float:
        """Peak MB above the baseline taken at ``start``."""
        sync(self.device)
        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device) / 1024
        elif self.method == "rss_hwm_reset":
            peak = _status_kb("VmHWM") or 0.0
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(max(peak - self.base_kb, 0.0) / 1024, 1)


__all__ = ["PRECISIONS", "PeakMemory", "bf16_capability", "cpu_flags", "machine_info", "precision_choice", "machine_line", "summarize", "sync", "time_interleaved", "time_repeats"]
