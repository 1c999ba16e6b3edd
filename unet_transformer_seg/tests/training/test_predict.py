"""Checkpoint -> masks at any input size, and the eval report."""

import json
import math

import numpy as np
import pytest
import torch

from src.models import build_model
from src.training.eval_report import format_results_table, json_safe
from src.training.predict import load_trained, predict_mask
from src.utils.checkpoint import save_checkpoint
from src.utils.config import config_to_dict, load_config


@pytest.fixture
def tiny_ckpt(tmp_path):
    cfg = load_config(None, ["model.base_channels=4", "model.depth=3", "data.image_size=32"])
    torch.manual_seed(0)
    model = build_model(cfg.model)
    path = tmp_path / "m.pt"
    save_checkpoint(path, {"model": model.state_dict(), "config": config_to_dict(cfg)})
    return path


@pytest.mark.parametrize("mode", ["resize", "pad"])
@pytest.mark.parametrize("hw", [(50, 70), (32, 32), (7, 5), (129, 64)])
def test_predict_any_size_returns_input_size(tiny_ckpt, mode, hw):
    model, cfg, _ = load_trained(tiny_ckpt, torch.device("cpu"))
    image = (np.random.default_rng(0).random((*hw, 3)) * 255).astype(np.uint8)
    mask = predict_mask(model, image, cfg, device=torch.device("cpu"), mode=mode)
    assert mask.shape == hw and mask.dtype == np.int64
    assert 0 <= mask.min() and mask.max() < 4


def test_pad_mode_equals_model_on_already_divisible_input(tiny_ckpt):
    """On a 32x32 input neither mode changes anything: both equal a direct forward pass."""
    model, cfg, _ = load_trained(tiny_ckpt, torch.device("cpu"))
    image = (np.random.default_rng(1).random((32, 32, 3)) * 255).astype(np.uint8)
    x = (torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255 - 0.5) / 0.25
    with torch.no_grad():
        direct = model(x)[0].argmax(0).numpy()
    for mode in ("resize", "pad"):
        assert np.array_equal(predict_mask(model, image, cfg, device=torch.device("cpu"), mode=mode), direct)


def test_load_trained_applies_overrides(tiny_ckpt):
    _, cfg, _ = load_trained(tiny_ckpt, torch.device("cpu"), ["data.mask_format=binary"])
    assert cfg.data.mask_format == "binary"


def test_json_safe_and_table():
    results = {"mean_dice": 0.5, "mean_iou": float("nan"), "pixel_accuracy": torch.tensor(0.25),
               "per_class": {"bg": {"dice": 1.0, "iou": 1.0}, "cat": {"dice": float("nan"), "iou": float("nan")}}}
    safe = json_safe(results)
    text = json.dumps(safe, allow_nan=False)  # raises if a NaN survived
    assert json.loads(text)["per_class"]["cat"]["dice"] is None and safe["pixel_accuracy"] == 0.25
    table = format_results_table({**safe, "num_images": 3, "data": "x"})
    assert "| cat |   n/a |   n/a |" in table and "| bg | 1.0000 | 1.0000 |" in table
    assert not math.isnan(safe["mean_dice"])
