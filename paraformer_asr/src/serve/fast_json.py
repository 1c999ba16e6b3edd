"""Faster JSON request bodies: parse with pydantic-core's Rust parser, not the stdlib's.

A ``/transcribe`` body is a (T, F) matrix of floats written out in decimal: a
1-second toy utterance is ~100 frames x 80 values, ~160 KB of text. FastAPI parses
bodies with ``json.loads``, which spends ~2-4 ms on such a body on a laptop core,
as long as the model's whole batched forward pass per utterance. That cost is paid
once per request, so it also caps what dynamic batching can gain (docs/SERVICE.md).
``pydantic_core.from_json`` (already installed: FastAPI depends on pydantic) parses
the same body ~7x faster and returns the same Python objects.

Where the two parsers disagree the stdlib decides, so nothing observable changes:
on any body ``from_json`` rejects (invalid JSON, or text the stdlib accepts but it
does not, such as a lone ``\\ud800`` escape), :func:`loads` calls ``json.loads``,
which returns its usual result or raises its usual ``JSONDecodeError`` (with the
position FastAPI reports). ``tests/serve/test_fast_json.py`` checks the equality.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

try:
    from pydantic_core import from_json as _rust_loads
except ImportError:  # pydantic v1 has no pydantic_core: fall back to the stdlib everywhere
    _rust_loads = None


def loads(body: bytes | str) -> Any:
    """``json.loads(body)``, computed by pydantic-core's parser when it accepts the body.

    Both accept the non-standard ``NaN``/``Infinity`` literals (so the service can
    answer them with a clear 422 rather than a parse error), give Python ints of any
    size, and keep the last of duplicate keys.
    """
    if _rust_loads is not None:
        try:
            return _rust_loads(body)
        except ValueError:
            pass  # invalid (the stdlib raises the error FastAPI expects) or a stdlib-only extension
    return json.loads(body)


class FastJSONRequest(Request):
    """A Starlette request whose ``json()`` uses :func:`loads`."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class FastJSONRoute(APIRoute):
    """Route class that hands endpoints a :class:`FastJSONRequest` (FastAPI's custom-route pattern).

    Set it before declaring routes: ``app.router.route_class = FastJSONRoute``.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def fast_json_handler(request: Request) -> Response:
            return await handler(FastJSONRequest(request.scope, request.receive))

        return fast_json_handler
