"""The real server: uvicorn on a free loopback port, concurrent clients, SIGTERM, the CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import torch

from src.data.toy_seq2seq import ToySeq2Seq
from src.serve.app import create_app
from src.training.evaluate import decode_options
from src.training.inference import load_for_inference
from src.utils.config import ServeConfig
from tests.serve.stub_model import FEAT_DIM, offline_decode, stub_setup
from tests.serve.stub_server import serve_in_thread

PROJECT = Path(__file__).resolve().parents[2]


def _loopback_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # the OS picks a free port; uvicorn listens on this very socket
    return sock


def _wait_for_line(proc: subprocess.Popen, prefix: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return line
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"no line starting with {prefix!r} within {timeout_s} s (exit code {proc.poll()})")


def _wait_healthy(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not become healthy within {timeout_s} s")


def _assert_graceful_exit(returncode: int, out: str) -> None:
    # uvicorn >= 0.29 re-raises the signal once shutdown is complete, so the exit status
    # is "terminated by SIGTERM" (-15) rather than 0; older versions exit with 0.
    assert returncode in (0, -signal.SIGTERM), out
    assert "batcher drained" in out and out.index("batcher drained") > out.index("Shutting down"), out


def test_concurrent_requests_on_real_server_match_offline(tiny_checkpoint, one_torch_thread):
    model, tok, cfg = load_for_inference(tiny_checkpoint("paraformer"), "cpu")
    ds = ToySeq2Seq(cfg.data, split="val", tokenizer=tok, subsampling=cfg.model.subsampling)
    jobs = [(ds[i % len(ds)][0], "beam" if i % 3 == 0 else "greedy") for i in range(16)]
    # A long window so that concurrent requests reliably meet in one batch even on a busy machine.
    scfg = ServeConfig(batch_window_ms=150.0, max_batch_size=8)
    app = create_app(model, tok, cfg, "cpu", serve_cfg=scfg)
    with serve_in_thread(app) as url:

        def send(job):
            feats, method = job
            payload = {"features": feats.tolist(), "decode_method": method, "beam_size": 3}
            return httpx.post(f"{url}/transcribe", json=payload, timeout=60.0)

        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(send, jobs))
        batch_sizes = list(app.state.batcher.batch_sizes)
    for (feats, method), r in zip(jobs, responses):
        assert r.status_code == 200, r.text
        with torch.inference_mode():
            ref = model.decode(feats[None], torch.tensor([feats.shape[0]]), **decode_options(cfg, method, 3))[0]
        assert r.json()["token_ids"] == ref.tokens and r.json()["decode_method"] == method
    assert sum(batch_sizes) == len(jobs) and max(batch_sizes) > 1, f"no dynamic batching happened: {batch_sizes}"


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGTERM is POSIX")
def test_sigterm_finishes_in_flight_requests():
    # The stub decodes for 1.5 s, so the request is surely in flight when SIGTERM arrives.
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.serve.stub_server", "1.5"],
        cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        port = int(_wait_for_line(proc, "PORT ", 60.0).split()[1])
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, 30.0)
        feats = torch.randn(12, FEAT_DIM, generator=torch.Generator().manual_seed(5))
        result: dict = {}

        def call():
            result["r"] = httpx.post(f"{url}/transcribe", json={"features": feats.tolist()}, timeout=30.0)

        client = threading.Thread(target=call)
        client.start()
        time.sleep(0.5)  # the request is now being decoded
        proc.send_signal(signal.SIGTERM)
        client.join(timeout=30)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    r = result["r"]
    assert r.status_code == 200, r.text
    model = stub_setup()[0]  # the same seeded stub as the server's
    assert r.json()["token_ids"] == offline_decode(model, feats).tokens
    _assert_graceful_exit(proc.returncode, out)
    # The request was answered after the shutdown began, i.e. it was not cut off.
    assert out.index("POST /transcribe 200") > out.index("Shutting down"), out


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGTERM is POSIX")
def test_serve_script_end_to_end(tiny_checkpoint, tmp_path):
    ckpt = tiny_checkpoint("ctc")
    sock = _loopback_socket()
    port = sock.getsockname()[1]
    sock.close()  # a tiny race with other processes; acceptable in a test
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "scripts/serve.py", "--checkpoint", str(ckpt), "--port", str(port), "--device", "cpu",
           "--max-frames", "300", "--torch-threads", "1", "--no-batching"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, 60.0)
        health = httpx.get(f"{url}/health").json()
        assert (health["model_name"], health["max_frames"], health["batching"]) == ("ctc", 300, False)
        r = httpx.post(f"{url}/transcribe", json={"features": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]})
        assert r.status_code == 422 and "expects F=16" in r.json()["detail"]
        r = httpx.post(f"{url}/transcribe", json={"features": [[0.0] * 16] * 301})
        assert r.status_code == 413 and "max_frames=300" in r.json()["detail"]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    _assert_graceful_exit(proc.returncode, out)
    assert "POST /transcribe 413" in out
