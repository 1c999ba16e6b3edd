"""eval.py scores folder data at native resolution with exactly the masks infer.py writes (issue #15)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from src.data.folder import read_mask
from src.metrics.per_case import PerCaseMetrics
from src.metrics.seg_metrics import SegMetrics
from src.models import build_model
from src.training.eval_report import evaluate_checkpoint, format_results_table, json_safe
from src.training.infer_run import infer_paths
from src.training.trainer import train
from src.utils.checkpoint import save_checkpoint
from src.utils.config import config_to_dict, load_config
from src.utils.logging import make_run_dir

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"
SIZES = [(50, 70), (40, 33), (64, 64)]  # (H, W), none equal to data.image_size


def folder(root: Path, sizes, k: int, seed=0, binary=False):
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, (h, w) in enumerate(sizes):
        Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(root / "images" / f"im{i}.png")
        mask = np.zeros((h, w), np.uint8)
        mask[: h // 2, 1::3] = 1  # thin stripes: what resizing to data.image_size blurs away
        if k > 2:
            mask[h // 2:, : w // 3] = 2
        Image.fromarray(mask * 255 if binary else mask).save(root / "masks" / f"im{i}.png")
    return root


@pytest.fixture
def folder_ckpt(tmp_path):
    cfg = load_config(TINY, ["data.dataset=folder", f"data.root={tmp_path}", "model.num_classes=3"])
    torch.manual_seed(0)
    model = build_model(cfg.model)
    with torch.no_grad():  # a bias towards class 1 so that predictions are not all background
        model.outc.conv.bias.copy_(torch.tensor([0.0, 0.05, -0.05]))
    path = tmp_path / "m.pt"
    save_checkpoint(path, {"model": model.state_dict(), "config": config_to_dict(cfg), "class_names": ["bg", "a", "b"]})
    return path


@pytest.mark.parametrize("mode", ["resize", "window"])
def test_eval_scores_the_masks_infer_writes_at_native_size(tmp_path, folder_ckpt, mode):
    data = folder(tmp_path / "d", SIZES, 3)
    kw = dict(mode=mode, tile=32 if mode == "window" else None, overlap=0.5)
    written = infer_paths(folder_ckpt, data / "images", tmp_path / "out", device="cpu", amp="false", **kw)
    results = evaluate_checkpoint(folder_ckpt, data_dir=data, device="cpu", amp="false", **kw)
    pooled, per_case = SegMetrics(3, 255, ["bg", "a", "b"]), PerCaseMetrics(3, 255, ["bg", "a", "b"])
    for mask_path in written:
        stem = mask_path.name[: -len("_mask.png")]
        pred = torch.from_numpy(read_mask(mask_path, "index"))[None]
        target = torch.from_numpy(read_mask(data / "masks" / f"{stem}.png", "index"))[None]
        assert pred.shape == target.shape  # native size
        pooled.update(pred, target)
        per_case.update(pred, target)
    assert pooled.confusion.sum() == sum(h * w for h, w in SIZES)
    expect = json_safe(pooled.compute())
    for key in ("mean_dice", "mean_iou", "pixel_accuracy", "per_class"):
        assert results[key] == expect[key]  # resized evaluation (the old path) scored other pixels
    assert results["per_case"] == json_safe(per_case.compute())
    assert results["split"] == "data-dir" and results["resolution"].startswith("native")
    table = format_results_table(results)
    assert "Dice (pooled)" in table and "Dice (per-case)" in table and "conventions:" in table


def test_folder_eval_defaults_to_test_root_and_names_the_split(tmp_path, folder_ckpt):
    folder(tmp_path / "test", SIZES[:2], 3)
    r = evaluate_checkpoint(folder_ckpt, device="cpu", amp="false", overrides=[f"data.test_root={tmp_path / 'test'}"])
    assert r["split"] == "test" and r["num_images"] == 2 and "test split" in r["data"]
    with pytest.raises(ValueError, match="data.test_root"):
        evaluate_checkpoint(folder_ckpt, device="cpu", amp="false", split="test")


def test_toy_eval_defaults_to_the_held_out_test_split(tmp_path):
    cfg = load_config(TINY, ["data.val_size=4"])
    torch.manual_seed(0)
    path = tmp_path / "toy.pt"
    save_checkpoint(path, {"model": build_model(cfg.model).state_dict(), "config": config_to_dict(cfg)})
    test = evaluate_checkpoint(path, device="cpu", amp="false")
    val = evaluate_checkpoint(path, device="cpu", amp="false", split="val")
    assert test["split"] == "test" and val["split"] == "val" and "picked best.pt" in val["data"]
    assert test["per_case"]["num_cases"] == 4
    assert test["pixel_accuracy"] != val["pixel_accuracy"]  # different images


def test_single_logit_binary_model_trains_evaluates_and_writes_0_255(tmp_path):
    data = folder(tmp_path / "bin", [(32, 32)] * 6, 2, binary=True)
    cfg = load_config(TINY, ["data.dataset=folder", f"data.root={data}", "data.mask_format=binary",
                             "model.num_classes=1", "data.val_fraction=0.34", "training.batch_size=2",
                             "training.max_steps=2", "training.num_vis=0"])
    run = make_run_dir(None, "k1", runs_root=tmp_path / "runs")
    result = train(cfg, run, console=False)
    assert result["status"] == "finished"
    r = evaluate_checkpoint(result["best_path"], data_dir=data, device="cpu", amp="false")
    assert list(r["per_class"]) == ["background", "class_0"] and r["num_images"] == 6
    written = infer_paths(result["best_path"], data / "images", tmp_path / "out", device="cpu", amp="false")
    values = set(np.unique(np.asarray(Image.open(written[0]))).tolist())
    assert values <= {0, 255}
    read_mask(written[0], "binary")  # loads back with the model's mask_format


def test_palette_models_write_the_training_palette(tmp_path):
    root = tmp_path / "pal"
    folder(root, [(32, 32)] * 4, 3)
    pal = [0, 0, 0, 200, 10, 10, 10, 200, 10] + [1, 2, 3] * 253
    for p in (root / "masks").iterdir():
        im = Image.open(p).convert("P")
        im.putpalette(pal)
        im.save(p)
    cfg = load_config(TINY, ["data.dataset=folder", f"data.root={root}", "data.mask_format=palette",
                             "model.num_classes=3", "data.val_fraction=0.25", "training.batch_size=2",
                             "training.max_steps=1"])
    result = train(cfg, make_run_dir(None, "pal", runs_root=tmp_path / "runs"), console=False)
    written = infer_paths(result["best_path"], root / "images", tmp_path / "out", device="cpu", amp="false")
    out = Image.open(written[0])
    assert out.mode == "P" and out.getpalette()[:9] == pal[:9]
    read_mask(written[0], "palette")
