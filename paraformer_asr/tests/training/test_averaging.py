"""Checkpoint averaging (src/training/averaging.py, scripts/average_checkpoints.py)."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from src.data.tokenizer import CharTokenizer
from src.models import build_model
from src.training.averaging import average_checkpoints, average_states
from src.training.inference import load_for_inference
from src.utils.checkpoint import CheckpointError, save_checkpoint
from src.utils.config import config_to_dict
from tests.models.tiny import FEAT, tiny_config

ROOT = Path(__file__).resolve().parents[2]


def _checkpoint(path, seed, *, conv_norm="batch_norm", d_model=32, step=0):
    cfg = tiny_config("ctc")
    cfg.data.feat_dim, cfg.model.d_model = FEAT, d_model
    cfg.model.encoder.type, cfg.model.encoder.conv_norm = "conformer", conv_norm
    tok = CharTokenizer.from_alphabet()
    torch.manual_seed(seed)
    model = build_model(cfg, tok.vocab_size, FEAT)
    save_checkpoint(path, {"model": model.state_dict(), "config": config_to_dict(cfg), "tokenizer": tok.to_json(),
                           "step": step, "epoch": seed, "optimizer": {"unused": torch.zeros(1)}})
    return path, model.state_dict()


def test_floats_are_the_mean_and_counters_come_from_the_last():
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(7)}
    c = {"w": torch.tensor([5.0, 1.0]), "n": torch.tensor(9)}
    out = average_states([a, b, c])
    torch.testing.assert_close(out["w"], torch.tensor([3.0, 3.0]))
    assert out["n"].item() == 9 and out["n"].dtype == torch.int64
    assert out["w"] is not c["w"] and out["n"] is not c["n"]  # new tensors: the inputs stay untouched


def test_mismatched_states_are_refused():
    with pytest.raises(CheckpointError, match=r"missing \['v'\]"):
        average_states([{"w": torch.ones(2)}, {"w": torch.ones(2), "v": torch.ones(1)}])
    with pytest.raises(CheckpointError, match="different shapes"):
        average_states([{"w": torch.ones(2)}, {"w": torch.ones(3)}])
    with pytest.raises(ValueError, match="at least one"):
        average_states([])


def test_averaged_checkpoint_loads_for_inference_with_the_mean_weights(tmp_path):
    (p1, s1), (p2, s2) = _checkpoint(tmp_path / "a.pt", 1, step=10), _checkpoint(tmp_path / "b.pt", 2, step=20)
    state = average_checkpoints([p1, p2])
    assert "optimizer" not in state and [a["step"] for a in state["averaged_from"]] == [10, 20]
    save_checkpoint(tmp_path / "avg.pt", state)
    model, _, _ = load_for_inference(tmp_path / "avg.pt")
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(v, (s1[k] + s2[k]) / 2, msg=k)
        else:
            assert torch.equal(v, s2[k]), k  # BatchNorm's num_batches_tracked


def test_checkpoints_of_different_models_are_refused(tmp_path):
    p1, _ = _checkpoint(tmp_path / "a.pt", 1)
    p2, _ = _checkpoint(tmp_path / "b.pt", 2, conv_norm="layer_norm")
    with pytest.raises(CheckpointError, match="another config.model"):
        average_checkpoints([p1, p2])


def test_script_writes_the_average_and_refuses_to_overwrite_an_input(tmp_path):
    p1, _ = _checkpoint(tmp_path / "a.pt", 1, step=10)
    p2, _ = _checkpoint(tmp_path / "b.pt", 2, step=20)
    script = [sys.executable, "scripts/average_checkpoints.py", "--checkpoints", str(p1), str(p2)]
    res = subprocess.run([*script, "--out", str(tmp_path / "avg.pt")], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "the mean of 2 checkpoints (steps 10, 20)" in res.stdout and (tmp_path / "avg.pt").is_file()
    res = subprocess.run([*script, "--out", str(p2)], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 2 and "is one of the inputs" in res.stderr
    res = subprocess.run([*script[:-1], str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x.pt")], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 2 and "checkpoint not found" in res.stderr
