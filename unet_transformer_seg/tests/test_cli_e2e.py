"""End to end through the scripts, in a temporary folder: train -> eval -> infer -> compare_runs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

PROJECT = Path(__file__).resolve().parents[1]
TINY = PROJECT / "configs" / "tiny.yaml"


def run(script, *args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(PROJECT / "scripts" / script), *map(str, args)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_unknown_override_key_exits_2_with_suggestion(tmp_path):
    r = run("train.py", "--config", PROJECT / "configs" / "unet_baseline.yaml",
            "--override", "training.batch_sise=4", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "batch_sise" in r.stderr and "batch_size" in r.stderr
    assert not (tmp_path / "runs").exists()  # nothing is created for a bad config


@pytest.mark.slow
def test_train_eval_infer_compare(tmp_path):
    r = run("train.py", "--config", TINY, "--run-name", "e2e", "--override", "training.num_epochs=1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    run_dir = tmp_path / "runs" / "e2e"
    for name in ("config.yaml", "train.log", "metrics.json", "results.csv", "checkpoints/best.pt",
                 "checkpoints/latest.pt", "plots/curves.png", "plots/predictions.png"):
        assert (run_dir / name).is_file(), name
    assert (tmp_path / "runs" / "latest" / "checkpoints" / "best.pt").is_file()

    r = run("eval.py", "--checkpoint", "runs/latest/checkpoints/best.pt", "--output", "eval.json",
            "--save-vis", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads((tmp_path / "eval.json").read_text())
    assert {"mean_dice", "mean_iou", "pixel_accuracy", "per_class"} <= set(results)
    assert set(results["per_class"]) == {"background", "circle", "rectangle", "triangle"}
    assert "| circle |" in r.stdout and (tmp_path / "eval.png").is_file()

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    sizes = {"odd": (50, 70), "square": (64, 64), "big": (97, 131)}  # (H, W)
    for stem, (h, w) in sizes.items():
        Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(inputs / f"{stem}.png")
    for mode in ("resize", "pad"):
        out = tmp_path / f"pred_{mode}"
        r = run("infer.py", "--checkpoint", "runs/latest/checkpoints/best.pt", "--input", inputs,
                "--output", out, "--mode", mode, cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
        for stem, (h, w) in sizes.items():
            mask = Image.open(out / f"{stem}_mask.png")
            assert mask.size == (w, h) and mask.mode == "L"
            assert np.asarray(mask).max() < 4
            assert Image.open(out / f"{stem}_overlay.png").size == (w, h)
    # A single file as input works too.
    r = run("infer.py", "--checkpoint", "runs/e2e/checkpoints/best.pt", "--input", inputs / "odd.png",
            "--output", tmp_path / "one", cwd=tmp_path)
    assert r.returncode == 0 and Image.open(tmp_path / "one" / "odd_mask.png").size == (70, 50)

    r = run("compare_runs.py", "--runs-dir", "runs", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "| e2e | unet |" in r.stdout and (tmp_path / "runs" / "compare.png").is_file()


def _folder_dataset(root: Path, n: int, rng) -> None:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        mask = np.zeros((40, 48), np.uint8)
        mask[5:20, 5:20] = 1 + i % 3
        mask[25:35, 30:45] = 3 - i % 3
        image = (rng.random((40, 48, 3)) * 60).astype(np.uint8)
        image[mask > 0] += (mask[mask > 0, None] * 60).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"img{i:02d}.jpg")
        Image.fromarray(mask).save(root / "masks" / f"img{i:02d}.png")


@pytest.mark.slow
def test_folder_dataset_train_and_eval(tmp_path):
    rng = np.random.default_rng(0)
    _folder_dataset(tmp_path / "mydata", 12, rng)
    _folder_dataset(tmp_path / "heldout", 4, rng)
    r = run("train.py", "--config", TINY, "--run-name", "folder", "--override", "data.dataset=folder",
            f"data.root={tmp_path / 'mydata'}", "data.val_fraction=0.25", "training.batch_size=4",
            "training.num_epochs=1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    r = run("eval.py", "--checkpoint", "runs/folder/checkpoints/best.pt", "--data-dir", tmp_path / "heldout",
            "--output", "held.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads((tmp_path / "held.json").read_text())
    assert results["num_images"] == 4
    assert set(results["per_class"]) == {"class_0", "class_1", "class_2", "class_3"}


def test_bad_folder_dataset_is_a_clear_error(tmp_path):
    (tmp_path / "d" / "images").mkdir(parents=True)
    (tmp_path / "d" / "masks").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "d" / "images" / "lonely.png")
    r = run("train.py", "--config", TINY, "--override", "data.dataset=folder", f"data.root={tmp_path / 'd'}",
            cwd=tmp_path)
    assert r.returncode == 1
    assert "lonely.png" in r.stderr and "Traceback" not in r.stderr
