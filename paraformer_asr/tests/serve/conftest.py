"""Fixtures for the service tests: a stub-model app behind FastAPI's TestClient."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from src.data.batching import feature_dim
from src.data.tokenizer import CharTokenizer
from src.models import build_model
from src.serve.app import create_app
from src.utils.checkpoint import save_checkpoint
from src.utils.config import config_to_dict, load_config
from tests.serve.stub_model import StubModel, stub_setup

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stub() -> tuple[StubModel, object, object]:
    return stub_setup(max_frames=50, max_body_bytes=20_000, batch_window_ms=5.0, max_batch_size=4)


@pytest.fixture
def client(stub) -> Iterator[TestClient]:
    model, tok, cfg = stub
    # The context manager runs the lifespan, which starts (and at exit drains) the batcher.
    with TestClient(create_app(model, tok, cfg, "cpu")) as c:
        yield c


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Decode with one intra-op thread: on a busy 2-core machine, two spinning threads are
    many times slower than one for these tiny models. Restored afterwards (it is process-wide)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Callable[[str], Path]:
    """``make(name)`` writes an untrained model from configs/tiny_<name>.yaml as a training checkpoint would."""

    def make(name: str, ctc_upsample: int = 1) -> Path:
        cfg = load_config(PROJECT / "configs" / f"tiny_{name}.yaml")
        cfg.model.ctc_upsample = ctc_upsample
        tok = CharTokenizer.from_alphabet()
        torch.manual_seed(0)
        model = build_model(cfg, tok.vocab_size, feature_dim(cfg))
        path = tmp_path / f"{name}_u{ctc_upsample}.pt"
        save_checkpoint(path, {"model": model.state_dict(), "config": config_to_dict(cfg), "tokenizer": tok.to_json()})
        return path

    return make
