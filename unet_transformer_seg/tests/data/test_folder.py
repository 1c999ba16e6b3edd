"""Folder dataset: loading each mask format, and every error names the problem."""

import numpy as np
import pytest
import torch
from PIL import Image

from src.data.folder import FolderDataset, FolderDatasetError, split_indices


def write_pair(root, stem, *, size=(20, 16), mask=None, mask_size=None, mode="L", ext=".png", palette=False):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    w, h = size
    img = (np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(root / "images" / f"{stem}{ext}")
    mw, mh = mask_size or size
    if mask is None:
        mask = np.zeros((mh, mw), np.uint8)
        mask[: mh // 2] = 1
    if palette:
        # A VOC-style P-mode PNG: pixel bytes are palette indices.
        m = Image.frombytes("P", (mw, mh), mask.astype(np.uint8).tobytes())
        m.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [255] * (256 * 3 - 9))
    else:
        m = Image.fromarray(mask.astype(np.uint8), mode=mode)
    m.save(root / "masks" / f"{stem}.png")


def test_index_masks_load(tmp_path):
    write_pair(tmp_path, "a")
    write_pair(tmp_path, "b", ext=".jpg")
    ds = FolderDataset(tmp_path, num_classes=4)
    assert len(ds) == 2
    image, mask = ds[0]
    assert image.shape == (3, 16, 20) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    assert mask.shape == (16, 20) and mask.dtype == torch.int64
    assert mask[:8].eq(1).all() and mask[8:].eq(0).all()


def test_palette_masks_keep_indices_and_ignore(tmp_path):
    mask = np.zeros((16, 20), np.uint8)
    mask[:4] = 2
    mask[-1] = 255  # VOC's "void" border
    write_pair(tmp_path, "a", mask=mask, palette=True)
    assert Image.open(tmp_path / "masks" / "a.png").mode == "P"
    _, m = FolderDataset(tmp_path, num_classes=3, mask_format="palette")[0]
    assert m[:4].eq(2).all() and m[-1].eq(255).all() and m[5:-1].eq(0).all()


def test_palette_format_rejects_grey_masks(tmp_path):
    write_pair(tmp_path, "a")
    with pytest.raises(FolderDatasetError, match="P-mode"):
        FolderDataset(tmp_path, num_classes=2, mask_format="palette")


def test_binary_masks_map_255_to_1(tmp_path):
    mask = np.zeros((16, 20), np.uint8)
    mask[:, :5] = 255
    write_pair(tmp_path, "a", mask=mask)
    _, m = FolderDataset(tmp_path, num_classes=2, mask_format="binary")[0]
    assert m[:, :5].eq(1).all() and m[:, 5:].eq(0).all()


def test_images_without_masks_are_listed(tmp_path):
    write_pair(tmp_path, "good")
    write_pair(tmp_path, "lost1")
    write_pair(tmp_path, "lost2")
    (tmp_path / "masks" / "lost1.png").unlink()
    (tmp_path / "masks" / "lost2.png").unlink()
    with pytest.raises(FolderDatasetError, match="2 image") as e:
        FolderDataset(tmp_path, num_classes=2)
    assert "lost1.png" in str(e.value) and "lost2.png" in str(e.value) and "good" not in str(e.value)


def test_size_mismatch_names_file_and_sizes(tmp_path):
    write_pair(tmp_path, "odd", size=(20, 16), mask_size=(10, 8))
    with pytest.raises(FolderDatasetError) as e:
        FolderDataset(tmp_path, num_classes=2)
    msg = str(e.value)
    assert "odd" in msg and "20x16" in msg and "10x8" in msg


def test_out_of_range_values_named(tmp_path):
    mask = np.zeros((16, 20), np.uint8)
    mask[0, 0], mask[1, 1], mask[2, 2] = 7, 9, 255
    write_pair(tmp_path, "bad", mask=mask)
    with pytest.raises(FolderDatasetError) as e:
        FolderDataset(tmp_path, num_classes=4)
    msg = str(e.value)
    assert "bad.png" in msg and "[7, 9]" in msg and "255" not in msg.split("are")[0]
    # 255 alone is the ignore index and fine.
    mask[0, 0] = mask[1, 1] = 0
    write_pair(tmp_path, "bad", mask=mask)
    FolderDataset(tmp_path, num_classes=4)


def test_0_255_mask_in_index_mode_suggests_binary(tmp_path):
    mask = np.zeros((16, 20), np.uint8)
    mask[:3] = 1  # 0/1 is fine; but also use an unexpected value
    mask[5:] = 128
    write_pair(tmp_path, "m", mask=mask)
    with pytest.raises(FolderDatasetError, match="binary"):
        FolderDataset(tmp_path, num_classes=2)


@pytest.mark.parametrize("setup", ["no_folder", "no_images"])
def test_empty_or_missing_folder(tmp_path, setup):
    if setup == "no_images":
        (tmp_path / "images").mkdir()
        (tmp_path / "masks").mkdir()
        match = "empty"
    else:
        match = "images/"
    with pytest.raises(FolderDatasetError, match=match):
        FolderDataset(tmp_path, num_classes=2)


def test_split_indices_seeded_disjoint():
    tr, va = split_indices(20, 0.25, seed=3)
    assert len(va) == 5 and len(tr) == 15 and not set(tr) & set(va) and sorted(tr + va) == list(range(20))
    assert split_indices(20, 0.25, seed=3) == (tr, va)
    assert split_indices(20, 0.25, seed=4) != (tr, va)
    with pytest.raises(FolderDatasetError, match="val_fraction"):
        split_indices(20, 0.0, seed=3)
