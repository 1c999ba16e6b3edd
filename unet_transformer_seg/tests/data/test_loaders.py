"""build_datasets / build_dataloaders and the epoch sampler."""

import numpy as np
import pytest
import torch
from PIL import Image

from src.data import EpochSampler, build_dataloaders, build_datasets, class_names
from src.utils.config import load_config


def tiny_cfg(*overrides):
    return load_config(None, ["data.train_size=12", "data.val_size=5", "training.batch_size=4", *overrides])


def test_toy_datasets_normalised_items():
    cfg = tiny_cfg()
    train, val = build_datasets(cfg)
    assert len(train) == 12 and len(val) == 5
    image, mask = val[0]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert mask.dtype == torch.int64
    assert image.min() < 0  # normalised with mean 0.5, std 0.25
    assert class_names(cfg) == ["background", "circle", "rectangle", "triangle"]


def test_toy_requires_four_classes():
    with pytest.raises(ValueError, match="num_classes=4"):
        build_datasets(tiny_cfg("model.num_classes=3"))


def test_sampler_epoch_order_and_resume_offset():
    s = EpochSampler(10, seed=1)
    s.set_epoch(0)
    e0 = list(s)
    s.set_epoch(1)
    e1 = list(s)
    assert sorted(e0) == list(range(10)) and e0 != e1
    s.set_epoch(0)
    s.set_start(4)
    assert list(s) == e0[4:]
    assert list(s) == e0  # the start offset applies once


def test_sampler_shards_like_distributed_sampler():
    shards = []
    for rank in range(3):
        s = EpochSampler(10, seed=1, num_replicas=3, rank=rank)
        shards.append(list(s))
    assert all(len(x) == 4 for x in shards)
    assert set(sum(shards, [])) == set(range(10))


def test_dataloaders_reproducible_batches_with_workers():
    cfg = tiny_cfg("data.num_workers=2")
    batches = []
    for _ in range(2):
        train, val = build_dataloaders(cfg)
        train.sampler.set_epoch(1)
        train.dataset.set_epoch(1)
        batches.append([b for b in train])
    assert len(batches[0]) == 3  # 12 // 4, drop_last
    for (x0, y0), (x1, y1) in zip(*batches):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)
    x, y = next(iter(val))
    assert x.shape == (4, 3, 64, 64) and y.shape == (4, 64, 64)


def _folder(root, n, size=(30, 20)):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((size[1], size[0], 3), i * 10, np.uint8)).save(root / "images" / f"{i:02d}.jpg")
        m = np.zeros((size[1], size[0]), np.uint8)
        m[: size[1] // 2] = i % 3
        Image.fromarray(m).save(root / "masks" / f"{i:02d}.png")


def test_folder_datasets_split_and_resize(tmp_path):
    _folder(tmp_path / "d", 10)
    cfg = tiny_cfg("data.dataset=folder", f"data.root={tmp_path / 'd'}", "data.val_fraction=0.2",
                   "data.image_size=32", "model.num_classes=3")
    train, val = build_datasets(cfg)
    assert len(train) == 8 and len(val) == 2
    image, mask = train[0]
    assert image.shape == (3, 32, 32) and mask.shape == (32, 32)
    assert class_names(cfg) == ["class_0", "class_1", "class_2"]


def test_folder_val_root(tmp_path):
    _folder(tmp_path / "tr", 4)
    _folder(tmp_path / "va", 3)
    cfg = tiny_cfg("data.dataset=folder", f"data.root={tmp_path / 'tr'}", f"data.val_root={tmp_path / 'va'}",
                   "model.num_classes=3")
    train, val = build_datasets(cfg)
    assert (len(train), len(val)) == (4, 3)


def test_folder_without_root_is_a_clear_error():
    with pytest.raises(ValueError, match="data.root"):
        build_datasets(tiny_cfg("data.dataset=folder"))
