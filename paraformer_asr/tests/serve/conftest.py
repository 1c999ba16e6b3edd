"""Fixtures for the service tests: a stub-model app behind FastAPI's TestClient."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from src.serve.app import create_app
from tests.serve.stub_model import StubModel, stub_setup


@pytest.fixture
def stub() -> tuple[StubModel, object, object]:
    return stub_setup(max_frames=50, max_body_bytes=20_000, batch_window_ms=5.0, max_batch_size=4)


@pytest.fixture
def client(stub) -> Iterator[TestClient]:
    model, tok, cfg = stub
    # The context manager runs the lifespan, which starts (and at exit drains) the batcher.
    with TestClient(create_app(model, tok, cfg, "cpu")) as c:
        yield c
