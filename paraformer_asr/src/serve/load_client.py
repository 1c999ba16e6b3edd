"""Load generator for the service (used by ``scripts/load_test.py``).

``C`` client coroutines share one HTTP connection pool and send ``N`` requests in
total, each as soon as the previous one of that client is answered (a closed
loop, like ``C`` users). Request bodies are built once before the clock starts,
so the client spends its CPU on HTTP, not on JSON encoding. It only talks to
loopback addresses and stops after ``N`` requests or ``max_seconds``, whichever
comes first, so it cannot be pointed at someone else's server or run forever.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np

MAX_REQUESTS = 100_000
MAX_CONCURRENCY = 256


@dataclass
class Payload:
    """One request body: where it goes and with which Content-Type."""

    path: str
    body: bytes
    content_type: str


@dataclass
class _Results:
    latencies_s: list[float] = field(default_factory=list)  # successful requests only
    server_ms: list[float] = field(default_factory=list)  # latency_ms reported by the server
    errors: Counter = field(default_factory=Counter)  # "HTTP 413", "ReadTimeout", ...


def check_loopback_url(url: str) -> str:
    """``url`` without a trailing slash, or ValueError if its host is not loopback.

    Names other than ``localhost`` are refused rather than resolved: a name could
    point anywhere, and a load test must only ever hit this machine.
    """
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"--url {url!r} must look like http://127.0.0.1:8000")
    host = parsed.host
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"--url host {host!r} is not a loopback address; the load test only runs against 127.0.0.1, ::1 or localhost")
    return str(url).rstrip("/")


def toy_payloads(feat_dim: int, count: int = 32, seed: int = 0) -> list[Payload]:
    """``count`` JSON bodies of toy-task utterances (1-4 words) with ``feat_dim`` values per frame."""
    from src.data.tokenizer import CharTokenizer
    from src.data.toy_seq2seq import ToySeq2Seq
    from src.utils.config import DataConfig, ModelConfig

    data_cfg = DataConfig(feat_dim=feat_dim, seed=seed, test_size=count)
    ds = ToySeq2Seq(data_cfg, split="test", tokenizer=CharTokenizer.from_alphabet(), subsampling=ModelConfig().subsampling)
    return [
        Payload("/transcribe", json.dumps({"features": ds.generate_sample(i)[0].tolist()}).encode(), "application/json")
        for i in range(count)
    ]


def audio_payload(path: str | Path) -> Payload:
    """A WAV file sent as a raw ``audio/wav`` body to ``/transcribe/audio``."""
    return Payload("/transcribe/audio", Path(path).read_bytes(), "audio/wav")


async def _worker(client: httpx.AsyncClient, url: str, payloads: list[Payload], state: dict[str, Any], res: _Results) -> None:
    while state["next"] < state["total"] and time.perf_counter() < state["deadline"]:
        i = state["next"]
        state["next"] += 1  # single-threaded event loop: no lock needed between these two lines
        p = payloads[i % len(payloads)]
        start = time.perf_counter()
        try:
            r = await client.post(url + p.path, content=p.body, headers={"content-type": p.content_type})
        except httpx.HTTPError as e:
            res.errors[type(e).__name__] += 1
            continue
        if r.status_code != 200:
            res.errors[f"HTTP {r.status_code}"] += 1
            continue
        res.latencies_s.append(time.perf_counter() - start)
        res.server_ms.append(float(r.json().get("latency_ms", float("nan"))))


async def _run(url: str, payloads: list[Payload], concurrency: int, requests: int, warmup: int, timeout_s: float, max_seconds: float) -> tuple[_Results, float]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
        if warmup:
            # Not timed: first requests pay one-off costs (lazy init, allocator growth, connections).
            warm = {"next": 0, "total": warmup, "deadline": time.perf_counter() + max_seconds}
            await asyncio.gather(*(_worker(client, url, payloads, warm, _Results()) for _ in range(min(concurrency, warmup))))
        res = _Results()
        start = time.perf_counter()
        state = {"next": 0, "total": requests, "deadline": start + max_seconds}
        await asyncio.gather(*(_worker(client, url, payloads, state, res) for _ in range(concurrency)))
        return res, time.perf_counter() - start


def run_load_test(
    url: str,
    payloads: list[Payload],
    *,
    concurrency: int,
    requests: int,
    warmup: int = 0,
    timeout_s: float = 60.0,
    max_seconds: float = 600.0,
) -> dict[str, Any]:
    """Send ``requests`` requests from ``concurrency`` clients; return the report dict."""
    url = check_loopback_url(url)
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"--concurrency {concurrency} must be in 1..{MAX_CONCURRENCY}")
    if not 1 <= requests <= MAX_REQUESTS:
        raise ValueError(f"--requests {requests} must be in 1..{MAX_REQUESTS}")
    if timeout_s <= 0 or max_seconds <= 0:
        raise ValueError("--timeout-s and --max-seconds must be > 0")
    if not payloads:
        raise ValueError("no request bodies to send")
    res, wall = asyncio.run(_run(url, payloads, concurrency, requests, warmup, timeout_s, max_seconds))
    ok = len(res.latencies_s)
    lat_ms = np.asarray(res.latencies_s) * 1000.0
    pct = {f"p{q}": round(float(np.percentile(lat_ms, q)), 2) if ok else None for q in (50, 95, 99)}
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "url": url,
        "endpoint": payloads[0].path,
        "concurrency": concurrency,
        "requests": requests,
        "sent": ok + sum(res.errors.values()),
        "ok": ok,
        "errors": sum(res.errors.values()),
        "error_kinds": dict(res.errors),
        "stopped_by_time_limit": ok + sum(res.errors.values()) < requests,
        "wall_s": round(wall, 3),
        "throughput_rps": round(ok / wall, 2) if wall > 0 else None,
        "latency_ms": {**pct, "mean": round(float(lat_ms.mean()), 2) if ok else None, "max": round(float(lat_ms.max()), 2) if ok else None},
        "server_latency_ms_p50": round(float(np.nanpercentile(res.server_ms, 50)), 2) if ok else None,
    }


def format_table(report: dict[str, Any]) -> str:
    """The report as an aligned two-column table."""
    lat = report["latency_ms"]
    rows = [
        ("url", f"{report['url']}{report['endpoint']}"),
        ("concurrency", report["concurrency"]),
        ("requests ok / sent", f"{report['ok']} / {report['sent']}" + ("  (time limit hit)" if report["stopped_by_time_limit"] else "")),
        ("errors", f"{report['errors']} {report['error_kinds'] or ''}".strip()),
        ("wall time (s)", report["wall_s"]),
        ("throughput (req/s)", report["throughput_rps"]),
        ("latency p50 / p95 / p99 (ms)", f"{lat['p50']} / {lat['p95']} / {lat['p99']}"),
        ("latency mean / max (ms)", f"{lat['mean']} / {lat['max']}"),
        ("server-side latency p50 (ms)", report["server_latency_ms_p50"]),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
