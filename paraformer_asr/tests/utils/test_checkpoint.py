"""Checkpoints: round trip, atomic writes (a killed writer), and clear errors."""

import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from src.utils import checkpoint as ckpt
from src.utils.checkpoint import CheckpointError, capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint

PROJECT = Path(__file__).resolve().parents[2]


def test_round_trip_keeps_named_fields(tmp_path):
    model = torch.nn.Linear(3, 2)
    state = {"model": model.state_dict(), "step": 7, "epoch": 2, "best_metric": 0.5, "config": {"a": [1, 2]}}
    save_checkpoint(tmp_path / "c.pt", state)
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert loaded["step"] == 7 and loaded["config"] == {"a": [1, 2]} and loaded["project"] == ckpt.PROJECT
    assert torch.equal(loaded["model"]["weight"], model.weight)


def test_rng_state_round_trip(tmp_path):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    np.random.randn()  # leaves a cached gaussian in numpy's state
    save_checkpoint(tmp_path / "c.pt", {"rng": capture_rng_state()})
    expected = (random.random(), float(np.random.randn()), float(torch.rand(1)))
    restore_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])
    assert (random.random(), float(np.random.randn()), float(torch.rand(1))) == expected


def test_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "latest.pt"
    save_checkpoint(path, {"step": 1})

    def crash(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # Ctrl-C in the middle of torch.save

    monkeypatch.setattr(ckpt.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"step": 2})
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]  # no temp file left behind


def test_writer_killed_mid_save_never_leaves_a_broken_file(tmp_path):
    """SIGKILL a process that keeps overwriting latest.pt with a large state; the file must stay loadable."""
    path = tmp_path / "latest.pt"
    writer = textwrap.dedent(
        f"""
        import sys, torch
        sys.path.insert(0, {str(PROJECT)!r})
        from src.utils.checkpoint import save_checkpoint
        big = torch.randn(4_000_000)
        step = 0
        while True:
            step += 1
            save_checkpoint({str(path)!r}, {{"step": step, "weights": big}})
            print(step, flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "1"  # one complete save exists
        time.sleep(0.15)  # now kill it, most likely in the middle of a save
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    state = load_checkpoint(path)
    assert state["step"] >= 1 and state["weights"].shape == (4_000_000,)


def test_missing_truncated_and_foreign_files_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"w": torch.randn(1000)})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(truncated)
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(text)
    plain = tmp_path / "plain.pt"
    torch.save({"weight": torch.ones(2)}, plain)
    with pytest.raises(CheckpointError, match="not a checkpoint of this project"):
        load_checkpoint(plain)


def test_checkpoint_of_another_project_is_refused(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"project": "some_other_project", "format_version": 1, "model": {}}, other)
    with pytest.raises(CheckpointError, match="some_other_project"):
        load_checkpoint(other)


def test_pickled_code_is_never_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"project": ckpt.PROJECT, "x": Evil()}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
