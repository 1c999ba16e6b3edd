"""Hard toy shapes and writing toy shapes as a folder dataset (scripts/make_shapes.py)."""

import inspect
import runpy
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from src.data.folder import FolderDataset
from src.data.shapes_folder import SHIFTED, SPLIT_IDS, palette_bytes, render, write_shapes_folder
from src.data.toy_shapes import render_hard_sample, save_preview


def test_hard_sample_shapes_range_and_determinism():
    image, mask = render_hard_sample(np.random.default_rng(3), size=128)
    assert image.shape == (128, 128, 3) and image.dtype == np.float32 and mask.shape == (128, 128)
    assert 0.0 <= image.min() and image.max() <= 1.0
    image2, mask2 = render_hard_sample(np.random.default_rng(3), size=128)
    assert np.array_equal(image, image2) and np.array_equal(mask, mask2)
    assert not np.array_equal(mask, render_hard_sample(np.random.default_rng(4), size=128)[1])
    with pytest.raises(ValueError, match="size >= 64"):
        render_hard_sample(np.random.default_rng(0), size=32)


def test_hard_samples_cover_all_classes_with_a_real_foreground_share():
    counts = np.zeros(4, int)
    for i in range(12):
        counts += np.bincount(render_hard_sample(np.random.default_rng(i), size=96)[1].ravel(), minlength=4)
    assert (counts > 0).all(), counts
    assert 0.03 < counts[1:].sum() / counts.sum() < 0.5


def test_hard_background_is_textured_not_flat():
    """The point of hard mode: background pixels vary far more than sensor noise alone would."""
    image, mask = render_hard_sample(np.random.default_rng(1), size=128, noise_std=0.0)
    bg = image[mask == 0]  # (N, 3)
    assert bg.std(0).mean() > 0.08


def test_written_folder_loads_back_exactly(tmp_path):
    counts = {"train": 3, "val": 2, "shifted": 1}
    write_shapes_folder(tmp_path / "d", counts=counts, hard=True, size=64, seed=5, progress=False)
    for split, n in counts.items():
        assert len(list((tmp_path / "d" / split / "images").iterdir())) == n
    mask_png = Image.open(tmp_path / "d" / "train" / "masks" / "train_00001.png")
    assert mask_png.mode == "P" and mask_png.getpalette()[:12] == palette_bytes()[:12]
    ds = FolderDataset(tmp_path / "d" / "train", num_classes=4, mask_format="palette")
    image, mask = render("train", 1, hard=True, size=64, seed=5)
    got_image, got_mask = ds[1]
    assert np.array_equal(got_mask.numpy(), mask)
    assert np.array_equal((got_image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), image)  # PNG is lossless
    # The shifted split is drawn under SHIFTED conditions (more shapes, more noise), nothing else changes.
    rng = np.random.default_rng([5, SPLIT_IDS["shifted"], 0])
    shifted_image, shifted_mask = render_hard_sample(rng, size=64, **SHIFTED["hard"])
    assert np.array_equal(render("shifted", 0, hard=True, size=64, seed=5)[1], shifted_mask)
    defaults = inspect.signature(render_hard_sample).parameters  # what the train/val/test splits use
    assert SHIFTED["hard"]["noise_std"] > defaults["noise_std"].default
    assert SHIFTED["hard"]["max_shapes"] > defaults["max_shapes"].default
    with pytest.raises(ValueError, match="unknown split"):
        write_shapes_folder(tmp_path / "e", counts={"tset": 1}, progress=False)


def test_make_shapes_script_and_hard_preview(tmp_path, capsys):
    main = runpy.run_path(str(Path(__file__).resolve().parents[2] / "scripts" / "make_shapes.py"),
                          run_name="make_shapes")["main"]
    assert main(["--out", str(tmp_path / "easy"), "--size", "64", "--train", "2", "--val", "1", "--test", "0",
                 "--shifted", "0"]) == 0
    assert "train 2" in capsys.readouterr().out and not (tmp_path / "easy" / "test").exists()
    assert len(list((tmp_path / "easy" / "train" / "masks").iterdir())) == 2
    path = save_preview(tmp_path / "p.png", n=2, size=64, hard=True)
    assert Image.open(path).size[0] > 2 * 64


def test_hard_shapes_keep_their_pixel_size_as_the_image_grows():
    """Shapes are as big in pixels at 192 px as at 128 px (more room, not bigger shapes).

    Scaled with the image, their area would grow (192/128)^2 = 2.25x; the generator's
    fixed pixel sizes keep the ratio near 1 (docs/ABLATIONS.md says why it matters).
    """
    def mean_area(size: int) -> float:
        areas = [(render_hard_sample(np.random.default_rng(i), size=size, min_shapes=1, max_shapes=1,
                                     noise_std=0.0)[1] > 0).sum() for i in range(40)]
        return float(np.mean(areas))

    ratio = mean_area(192) / mean_area(128)
    assert 0.75 < ratio < 1.3, ratio
