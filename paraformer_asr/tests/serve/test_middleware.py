"""Body limit at the ASGI level: a Content-Length that lies must not get past it."""

from __future__ import annotations

import asyncio
import json

from starlette.exceptions import HTTPException

from src.serve.middleware import BodyLimitMiddleware


async def _echo_body_app(scope, receive, send):
    # Reads the whole body like an endpoint would, then answers 200.
    size = 0
    while True:
        msg = await receive()
        size += len(msg.get("body", b""))
        if not msg.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def _run(app, headers, chunks):
    sent, queue = [], list(chunks)

    async def receive():
        body = queue.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(queue)}

    async def send(msg):
        sent.append(msg)

    scope = {"type": "http", "method": "POST", "path": "/transcribe", "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent


def test_declared_length_over_limit_is_refused_unread():
    app = BodyLimitMiddleware(_echo_body_app, max_body_bytes=100)
    sent = _run(app, [(b"content-length", b"101")], [b"x" * 101])
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["detail"].startswith("request body is larger than the limit of max_body_bytes=100")


def test_lying_content_length_is_caught_by_counting():
    app = BodyLimitMiddleware(_echo_body_app, max_body_bytes=100)
    try:
        _run(app, [(b"content-length", b"10")], [b"x" * 60, b"x" * 60])
    except HTTPException as e:  # FastAPI's exception middleware turns this into the 413 answer
        assert e.status_code == 413 and "max_body_bytes=100" in e.detail
    else:
        raise AssertionError("120 bytes under a 100-byte limit were accepted")


def test_body_within_limit_passes_through():
    app = BodyLimitMiddleware(_echo_body_app, max_body_bytes=100)
    sent = _run(app, [(b"content-length", b"100")], [b"x" * 50, b"x" * 50])
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"100"


def test_malformed_content_length_is_400():
    app = BodyLimitMiddleware(_echo_body_app, max_body_bytes=100)
    sent = _run(app, [(b"content-length", b"ten")], [b""])
    assert sent[0]["status"] == 400 and "invalid Content-Length header 'ten'" in json.loads(sent[1]["body"])["detail"]
