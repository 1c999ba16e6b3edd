"""Serve the stub model on a free loopback port: ``python -m tests.serve.stub_server DELAY_S``.

Prints ``PORT <n>`` once listening. Used by the SIGTERM test, which needs a real
process whose main thread gets the signal, as with ``scripts/serve.py``.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from src.serve.app import create_app
from tests.serve.stub_model import stub_setup


@contextmanager
def serve_in_thread(app: FastAPI, timeout_s: float = 30.0) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free loopback port in a thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # the OS picks a free port; uvicorn listens on this very socket
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"uvicorn did not start within {timeout_s} s")
            time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=timeout_s)
        sock.close()
    if thread.is_alive():
        raise RuntimeError("uvicorn did not shut down")


def main() -> None:
    delay_s = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    model, tok, cfg = stub_setup(delay_s=delay_s)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(model, tok, cfg, "cpu"), log_level="info", access_log=False))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
