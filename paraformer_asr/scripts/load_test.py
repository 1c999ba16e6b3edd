"""Load-test a running service on this machine: throughput, p50/p95/p99 latency, errors.

Example (start scripts/serve.py first):
    python scripts/load_test.py --url http://127.0.0.1:8000 --concurrency 32 --requests 1000 --features-from-toy
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python scripts/load_test.py` from the project folder

import httpx  # noqa: E402

from src.serve.load_client import (  # noqa: E402
    MAX_CONCURRENCY,
    MAX_REQUESTS,
    audio_payload,
    check_loopback_url,
    format_table,
    run_load_test,
    toy_payloads,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="loopback only (127.0.0.1, ::1, localhost)")
    parser.add_argument("--concurrency", type=int, default=8, help=f"simultaneous clients, 1..{MAX_CONCURRENCY}")
    parser.add_argument("--requests", type=int, default=200, help=f"timed requests in total, 1..{MAX_REQUESTS}")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--audio", help="send this WAV file to /transcribe/audio")
    source.add_argument("--features-from-toy", action="store_true", help="send toy-task utterances to /transcribe")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests sent first")
    parser.add_argument("--timeout-s", type=float, default=60.0, help="per-request timeout")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop sending after this long, whatever --requests says")
    parser.add_argument("--output", help="also write the JSON report here")
    args = parser.parse_args()

    try:
        url = check_loopback_url(args.url)
        health = httpx.get(f"{url}/health", timeout=args.timeout_s).json()
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except httpx.HTTPError as e:
        print(f"error: no service at {args.url} ({e}); start scripts/serve.py first", file=sys.stderr)
        return 2
    try:
        payloads = [audio_payload(args.audio)] if args.audio else toy_payloads(health["feature_dim"])
        report = run_load_test(
            url, payloads, concurrency=args.concurrency, requests=args.requests, warmup=args.warmup,
            timeout_s=args.timeout_s, max_seconds=args.max_seconds,
        )  # fmt: skip
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    report["server"] = {k: health[k] for k in ("model_name", "device", "batching", "batch_window_ms", "max_batch_size")}
    print(format_table(report))
    print(json.dumps(report, indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
