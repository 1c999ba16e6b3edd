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


# ---- issue #15 regressions: 16-bit grey, EXIF orientation, strict binary masks, K = 1 ----
def test_16bit_grey_png_keeps_its_depth(tmp_path):
    write_pair(tmp_path, "a", size=(20, 16))
    ramp = np.linspace(1000, 60000, 20 * 16).reshape(16, 20).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "images" / "a.png")  # a 16-bit grey PNG (mode I;16)
    image, _ = FolderDataset(tmp_path, num_classes=4)[0]
    assert image.shape == (3, 16, 20)
    assert len(torch.unique(image[0])) == 20 * 16  # convert("RGB") crushed this to 3 values
    assert image.min() == 0 and image.max() == 1  # per-image min..max
    assert torch.equal(image[0], image[1])
    fixed, _ = FolderDataset(tmp_path, num_classes=4, intensity_range=(0, 65535))[0]
    assert fixed[0, 0, 0].item() == pytest.approx(1000 / 65535, abs=1e-6)


def test_exif_orientation_is_applied(tmp_path):
    # Stored 20 wide x 10 high with orientation 6 (rotate 90 clockwise): displayed 10 x 20.
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    stored = np.zeros((10, 20, 3), np.uint8)
    stored[:, :10] = 255  # left half white in the stored pixels = top half when displayed
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "images" / "p.jpg", exif=exif, quality=95)
    mask = np.zeros((20, 10), np.uint8)
    mask[:10] = 1  # drawn on the displayed photo: top half
    Image.fromarray(mask).save(tmp_path / "masks" / "p.png")
    image, m = FolderDataset(tmp_path, num_classes=2)[0]  # used to fail: size mismatch 20x10 vs 10x20
    assert image.shape == (3, 20, 10) and m.shape == (20, 10)
    assert image[:, :10].mean() > 0.9 and image[:, 10:].mean() < 0.1  # white where the mask says 1


def test_binary_masks_accept_0_1_and_refuse_other_values(tmp_path):
    mask = np.zeros((16, 20), np.uint8)
    mask[:, :5] = 1
    write_pair(tmp_path, "a", mask=mask)
    _, m = FolderDataset(tmp_path, num_classes=2, mask_format="binary")[0]
    assert m[:, :5].eq(1).all() and m[:, 5:].eq(0).all()  # used to be all background
    mask[:, 5:8] = 128
    write_pair(tmp_path, "a", mask=mask)
    with pytest.raises(FolderDatasetError, match=r"found values \[0, 1, 128\]"):
        FolderDataset(tmp_path, num_classes=2, mask_format="binary")


def test_single_logit_k1_accepts_label_1(tmp_path):
    mask = np.zeros((16, 20), np.uint8)
    mask[:, :5] = 255
    write_pair(tmp_path, "a", mask=mask)
    _, m = FolderDataset(tmp_path, num_classes=1, mask_format="binary")[0]  # used to reject label 1
    assert m.max() == 1


@pytest.mark.parametrize("fmt,k", [("index", 4), ("palette", 4), ("binary", 2)])
def test_written_masks_load_back_with_the_same_format(tmp_path, fmt, k):
    from src.data.folder import read_mask, read_palette, write_mask
    labels = np.random.default_rng(0).integers(0, k, (9, 11))
    pal = [7, 8, 9] * 256
    write_mask(tmp_path / "m.png", labels, fmt, pal if fmt == "palette" else None)
    assert np.array_equal(read_mask(tmp_path / "m.png", fmt), labels)
    if fmt == "palette":
        assert read_palette(tmp_path / "m.png") == pal
    if fmt == "binary":
        assert set(np.unique(np.asarray(Image.open(tmp_path / "m.png"))).tolist()) <= {0, 255}
