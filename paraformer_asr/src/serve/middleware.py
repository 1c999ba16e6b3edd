"""ASGI middleware: a request-body size limit and a one-line access log.

Both are plain ASGI (not Starlette's BaseHTTPMiddleware), so they wrap the raw
``receive``/``send`` channels and add no task or buffering of their own.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("paraformer_asr.serve")


def too_large_message(limit: int) -> str:
    return f"request body is larger than the limit of max_body_bytes={limit} bytes; send less data per request"


class BodyLimitMiddleware:
    """413 for bodies over ``max_body_bytes``.

    Two checks, because the header alone can be absent (chunked transfer) or lie:
    a ``Content-Length`` over the limit is refused before anything is read, and the
    bytes actually received are counted, failing the request as soon as the count
    passes the limit. The second check raises an HTTPException inside the endpoint's
    body read, which FastAPI turns into the 413 answer.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_json(send, 400, f"invalid Content-Length header {value.decode('latin-1')!r}")
                    return
                if declared > limit:
                    await _send_json(send, 413, too_large_message(limit))
                    return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, too_large_message(limit))
            return message

        await self.app(scope, counting_receive, send)


class AccessLogMiddleware:
    """One log line per request: method, path, status and latency in ms.

    The start time is also stored in ``scope[start_key]``, so endpoints can report
    a latency that includes reading and parsing the body.
    """

    def __init__(self, app: ASGIApp, *, start_key: str = "asr.start_time") -> None:
        self.app = app
        self.start_key = start_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        scope[self.start_key] = start
        status = 500  # if the app dies before answering, the server answers 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            ms = (time.perf_counter() - start) * 1000.0
            client = scope.get("client") or ("-", 0)
            log.info("%s %s %d %.1fms client=%s", scope["method"], scope["path"], status, ms, client[0])


async def _send_json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers: list[tuple[bytes, Any]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # The body was not read; closing makes the client stop sending it.
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
