"""Serve the stub model on a free loopback port: ``python -m tests.serve.stub_server DELAY_S``.

Prints ``PORT <n>`` once listening. Used by the SIGTERM test, which needs a real
process whose main thread gets the signal, as with ``scripts/serve.py``.
"""

from __future__ import annotations

import logging
import socket
import sys

import uvicorn

from src.serve.app import create_app
from tests.serve.stub_model import stub_setup


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
