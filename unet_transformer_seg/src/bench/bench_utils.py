"""Benchmark plumbing: machine description, alternating timed repeats, peak memory.

Kept apart from ``benchmark.py`` (what is measured) so that file reads as the list of
measurements.
"""

from __future__ import annotations

import ctypes
import gc
import os
import platform
import resource
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch


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


def sync(device: torch.device) -> None:
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
        sync(self.device)
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


def time_throughput(steps: dict[Any, Callable[[], None]], *, items_per_step: int, warmup: int, repeats: int,
                    steps_per_repeat: int, device: torch.device) -> dict[Any, dict[str, float]]:
    """Items/s of each variant's ``step``: ``warmup`` untimed calls, then ``repeats`` timed blocks.

    The variants' blocks alternate (A, B, A, B, ...), so load that comes and goes on a
    shared machine slows them alike and their ratio (e.g. sdpa vs math) stays fair.
    """
    for _ in range(warmup):
        for step in steps.values():
            step()
    sync(device)
    rates: dict[Any, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            t0 = time.perf_counter()
            for _ in range(steps_per_repeat):
                step()
            sync(device)  # CUDA kernels run asynchronously; stop the clock when they are done
            rates[name].append(items_per_step * steps_per_repeat / (time.perf_counter() - t0))
    return {name: summarize(r) for name, r in rates.items()}


__all__ = ["PeakMemory", "machine_info", "summarize", "sync", "time_throughput"]
