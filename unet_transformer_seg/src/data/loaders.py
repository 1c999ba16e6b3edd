"""Datasets and DataLoaders from an ``ExperimentConfig``.

Reproducibility is by construction, not by RNG state juggling:

- the order of epoch ``e`` is a permutation seeded by ``(seed, e)`` (:class:`EpochSampler`);
- the augmentation of sample ``i`` in epoch ``e`` is seeded by ``(data seed, i, e)``
  (datasets' ``set_epoch``).

So a run resumed at step ``s`` of epoch ``e`` rebuilds the same permutation and
skips the batches already seen (``set_start``), and every later batch is bit-identical
to the uninterrupted run, with any number of workers.

Distributed training: :class:`EpochSampler` shards the permutation by
``rank``/``num_replicas`` like ``DistributedSampler`` (every rank gets the same number
of indices, so the same number of batches); :func:`build_dataloaders` also gives each
rank a disjoint, unpadded share of the validation split, so summed confusion matrices
count every validation pixel exactly once.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from src.data.folder import FolderDataset, list_pairs, split_indices
from src.data.toy_shapes import CLASS_NAMES, ToyShapesDataset
from src.data.transforms import build_transforms


class EpochSampler(Sampler[int]):
    """Shuffled (or sequential) indices; epoch ``e``'s order depends only on ``(seed, e)``.

    ``num_replicas``/``rank`` take every ``num_replicas``-th index of the (padded)
    permutation, as ``DistributedSampler`` does. ``set_start(k)`` skips this rank's
    first ``k`` indices, for resuming mid-epoch; it applies to the next iteration only.
    """

    def __init__(self, n: int, *, shuffle: bool = True, seed: int = 0, num_replicas: int = 1, rank: int = 0) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} must be in [0, num_replicas={num_replicas})")
        self.n, self.shuffle, self.seed = n, shuffle, seed
        self.num_replicas, self.rank = num_replicas, rank
        self.epoch, self.start = 0, 0
        self.num_samples = math.ceil(n / num_replicas)  # per rank

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def set_start(self, start: int) -> None:
        self.start = start

    def indices(self) -> list[int]:
        """This rank's full index list for the current epoch (ignores ``start``)."""
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        total = self.num_samples * self.num_replicas
        order += order[: total - len(order)]  # pad so every rank gets the same count
        return order[self.rank:total:self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        start, self.start = self.start, 0
        return iter(self.indices()[start:])

    def __len__(self) -> int:
        return self.num_samples - self.start


def class_names(cfg) -> list[str]:
    """Names of the K classes: data.class_names, the toy names, or class_0..class_{K-1}."""
    k = cfg.model.num_classes
    if cfg.data.class_names:
        if len(cfg.data.class_names) != k:
            raise ValueError(f"data.class_names has {len(cfg.data.class_names)} names but model.num_classes={k}")
        return list(cfg.data.class_names)
    if cfg.data.dataset == "toy_shapes":
        return list(CLASS_NAMES)
    return [f"class_{i}" for i in range(k)]


def build_toy_split(cfg, split: str) -> ToyShapesDataset:
    """One toy split: ``train`` (train_size, augmented), ``val`` or ``test`` (val_size each, held apart by seed)."""
    d = cfg.data
    common = dict(seed=d.seed, size=d.image_size, min_shapes=d.min_shapes, max_shapes=d.max_shapes,
                  noise_std=d.noise_std, background=d.background)
    n = d.train_size if split == "train" else d.val_size
    return ToyShapesDataset(num_samples=n, split=split, transform=build_transforms(d, train=split == "train"), **common)


def build_datasets(cfg) -> tuple[Dataset, Dataset]:
    """(train_ds, val_ds) for ``cfg.data.dataset``; items are (image (3,H,W) float32 normalised, mask (H,W) int64)."""
    d = cfg.data
    if d.dataset == "toy_shapes":
        if cfg.model.num_classes != len(CLASS_NAMES):
            raise ValueError(f"toy_shapes has {len(CLASS_NAMES)} classes but model.num_classes="
                             f"{cfg.model.num_classes}; set model.num_classes={len(CLASS_NAMES)}")
        return build_toy_split(cfg, "train"), build_toy_split(cfg, "val")
    if d.dataset == "folder":
        if not d.root:
            raise ValueError("data.dataset=folder needs data.root=DIR (a folder with images/ and masks/)")
        common = folder_kwargs(cfg)
        train_tf = build_transforms(d, train=True, resize_to=d.image_size)
        val_tf = build_transforms(d, train=False, resize_to=d.image_size)
        if d.val_root:
            return (FolderDataset(d.root, transform=train_tf, **common),
                    FolderDataset(d.val_root, transform=val_tf, **common))
        n = len(list_pairs(Path(d.root)))  # each side of the split checks its own pairs below
        train_idx, val_idx = split_indices(n, d.val_fraction, d.seed)
        return (FolderDataset(d.root, indices=train_idx, transform=train_tf, **common),
                FolderDataset(d.root, indices=val_idx, transform=val_tf, **common))
    raise ValueError(f"unknown data.dataset {d.dataset!r}; use toy_shapes or folder")


def folder_kwargs(cfg) -> dict:
    """The FolderDataset arguments every split of ``cfg`` shares (classes, mask format, intensity scale)."""
    d = cfg.data
    if d.intensity_range and len(d.intensity_range) != 2:
        raise ValueError(f"data.intensity_range must be [low, high] or empty, got {d.intensity_range}")
    return dict(num_classes=cfg.model.num_classes, mask_format=d.mask_format, ignore_index=d.ignore_index,
                seed=d.seed, intensity_range=tuple(d.intensity_range) or None)


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: derive python/numpy seeds from the worker's torch seed.

    Our datasets seed augmentation per sample, so this only guards user code that
    reaches for the global ``random``/``np.random`` inside a worker.
    """
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def build_dataloaders(
    cfg,
    *,
    datasets: tuple[Dataset, Dataset] | None = None,
    rank: int = 0,
    world_size: int = 1,
    sampler: Sampler | None = None,
) -> tuple[DataLoader, DataLoader]:
    """(train_loader, val_loader). The train loader's sampler is an :class:`EpochSampler`
    (sharded by ``rank``/``world_size``) unless ``sampler`` is given; the trainer calls its
    ``set_epoch``/``set_start`` and the dataset's ``set_epoch``. With ``world_size > 1``
    the val loader covers validation images ``rank, rank + world_size, ...`` (no padding:
    a padded duplicate would be scored twice).
    """
    train_ds, val_ds = datasets if datasets is not None else build_datasets(cfg)
    t = cfg.training
    train_sampler = sampler or EpochSampler(len(train_ds), shuffle=True, seed=t.seed,
                                            num_replicas=world_size, rank=rank)
    workers = cfg.data.num_workers
    g = torch.Generator().manual_seed(t.seed)  # seeds the workers' torch RNGs
    common = dict(num_workers=workers, worker_init_fn=seed_worker if workers else None,
                  pin_memory=torch.cuda.is_available(), persistent_workers=False)
    # drop_last keeps BatchNorm away from a batch of 1 and makes steps/epoch exact.
    train = DataLoader(train_ds, batch_size=t.batch_size, sampler=train_sampler,
                       drop_last=len(train_ds) // world_size >= t.batch_size, generator=g, **common)
    if world_size > 1:
        val = DataLoader(val_ds, batch_size=t.batch_size, sampler=range(rank, len(val_ds), world_size), **common)
    else:
        val = DataLoader(val_ds, batch_size=t.batch_size, shuffle=False, **common)
    return train, val
