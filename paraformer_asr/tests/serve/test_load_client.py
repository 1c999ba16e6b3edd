"""Load generator: loopback-only, bounded, counts errors; the script end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from src.serve.app import create_app
from src.serve.load_client import Payload, check_loopback_url, format_table, run_load_test, toy_payloads
from tests.serve.stub_model import FEAT_DIM, stub_setup
from tests.serve.stub_server import serve_in_thread

PROJECT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:8000/", "http://[::1]:9", "http://127.3.2.1"])
def test_loopback_urls_are_accepted(url):
    assert check_loopback_url(url) == url.rstrip("/")


@pytest.mark.parametrize("url", ["http://10.0.0.1:8000", "http://example.com", "http://0.0.0.0:8000", "ftp://127.0.0.1", "127.0.0.1:8000"])
def test_other_urls_are_refused(url):
    with pytest.raises(ValueError, match="loopback|must look like"):
        check_loopback_url(url)


@pytest.mark.parametrize("kw, needle", [({"requests": 0}, "--requests 0 must be in 1..100000"), ({"concurrency": 1000}, "--concurrency 1000 must be in 1..256")])
def test_counts_are_bounded(kw, needle):
    args = {"concurrency": 1, "requests": 1, **kw}
    with pytest.raises(ValueError, match=needle):
        run_load_test("http://127.0.0.1:9", toy_payloads(FEAT_DIM, count=1), **args)


def test_report_counts_successes_and_errors():
    model, tok, cfg = stub_setup()
    good = toy_payloads(FEAT_DIM, count=3)
    bad = Payload("/transcribe", json.dumps({"features": [[0.1, 0.2, 0.3]]}).encode(), "application/json")
    with serve_in_thread(create_app(model, tok, cfg, "cpu")) as url:
        report = run_load_test(url, [*good, bad], concurrency=4, requests=20, warmup=2)
    assert (report["sent"], report["ok"], report["errors"]) == (20, 15, 5)  # every 4th body is the 3-column one
    assert report["error_kinds"] == {"HTTP 422": 5} and not report["stopped_by_time_limit"]
    lat = report["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"] and report["throughput_rps"] > 0
    assert "latency p50 / p95 / p99 (ms)" in format_table(report)


def test_time_limit_stops_the_run():
    model, tok, cfg = stub_setup(delay_s=0.2)
    with serve_in_thread(create_app(model, tok, cfg, "cpu")) as url:
        report = run_load_test(url, toy_payloads(FEAT_DIM, count=1), concurrency=1, requests=1000, max_seconds=0.5)
    assert report["stopped_by_time_limit"] and 1 <= report["sent"] <= 4


@pytest.mark.slow
def test_load_test_script_end_to_end(tmp_path):
    model, tok, cfg = stub_setup()
    out = tmp_path / "report.json"
    with serve_in_thread(create_app(model, tok, cfg, "cpu")) as url:
        cmd = [sys.executable, "scripts/load_test.py", "--url", url, "--concurrency", "3", "--requests", "12",
               "--warmup", "0", "--features-from-toy", "--output", str(out)]  # fmt: skip
        proc = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "throughput (req/s)" in proc.stdout
    report = json.loads(out.read_text())
    assert (report["ok"], report["errors"], report["server"]["model_name"]) == (12, 0, "paraformer")
    refused = subprocess.run([sys.executable, "scripts/load_test.py", "--url", "http://192.168.1.1:8000", "--features-from-toy"],
                             cwd=PROJECT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert refused.returncode == 2 and "not a loopback address" in refused.stderr
