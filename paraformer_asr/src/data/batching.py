"""Padding, length-bucketed batching and the dataloaders for every dataset.

A sample is ``(features (T, F), tokens (L,), T, L, text)``. The toy dataset and
the manifest (real audio) dataset both produce it, so ``collate`` and the
sampler never need to know where the data came from.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from src.data.tokenizer import BLANK_ID, CharTokenizer
from src.utils.config import ExperimentConfig

Sample = tuple[torch.Tensor, torch.Tensor, int, int, str]


def collate(samples: Sequence[Sample]) -> dict[str, object]:
    """Pad a list of samples into one batch.

    Returns:
        feats (B, T, F) float32, zero-padded; feat_lens (B,) int64;
        tokens (B, L) int64 padded with the blank id 0; token_lens (B,) int64;
        texts: list of B reference strings.
    The padding masks are built later from the lengths by ``make_pad_mask``.
    """
    if not samples:
        raise ValueError("collate got an empty list of samples")
    feat_dim = samples[0][0].shape[1]
    B = len(samples)
    T = max(int(s[2]) for s in samples)
    L = max(int(s[3]) for s in samples)
    feats = torch.zeros(B, T, feat_dim, dtype=torch.float32)  # (B, T, F)
    tokens = torch.full((B, max(L, 1)), BLANK_ID, dtype=torch.int64)  # (B, L)
    for b, (f, tok, t, l, _) in enumerate(samples):
        if f.shape[1] != feat_dim:
            raise ValueError(f"sample {b} has feature dim {f.shape[1]}, the batch has {feat_dim}")
        feats[b, :t] = f
        tokens[b, :l] = tok
    return {
        "feats": feats,
        "feat_lens": torch.tensor([int(s[2]) for s in samples], dtype=torch.int64),
        "tokens": tokens[:, :L],
        "token_lens": torch.tensor([int(s[3]) for s in samples], dtype=torch.int64),
        "texts": [s[4] for s in samples],
    }


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar length, reshuffled every epoch, optionally sharded over ranks.

    Each epoch: shuffle all indices, cut them into chunks of
    ``batch_size * bucket_size_multiplier``, sort each chunk by length and slice
    it into batches, then shuffle the batch order. Similar lengths share a batch
    (little padding) while the data order still changes every epoch.

    For DDP every rank builds the same batch list from ``(seed, epoch)`` and
    takes every ``world_size``-th batch starting at ``rank``; the list is first
    padded (or, with ``drop_last``, trimmed) to a multiple of ``world_size`` so
    that all ranks run the same number of steps (a rank with one step fewer
    would wait forever in DDP's gradient all_reduce). Evaluation shards with
    ``even_shards=False``: no padding, since a repeated batch would be scored twice.

    The batch list depends on ``(seed, epoch, batch_size)`` but not on
    ``world_size``, so "the first k batches of the epoch" means the same
    utterances for any number of processes: rank r's i-th batch is batch
    ``i * world_size + r``. Resume uses this to continue on another world size.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        bucket_size_multiplier: int = 20,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        even_shards: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if bucket_size_multiplier < 1:
            raise ValueError(f"data.bucket_size_multiplier must be >= 1, got {bucket_size_multiplier}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} must be in [0, world_size={world_size})")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.bucket_size_multiplier = bucket_size_multiplier
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.even_shards = even_shards
        self.epoch = 0
        self.start_batch = 0
        self.epoch_listeners: list = []  # e.g. ManifestDataset.set_epoch: augmentation seeded by the epoch

    def set_epoch(self, epoch: int, *, start_batch: int = 0) -> None:
        """Call before each epoch so that the shuffle differs (and all ranks agree).

        ``start_batch`` skips this rank's first batches of the epoch: a run
        resumed mid-epoch continues with exactly the batches it had not seen.
        """
        self.epoch = epoch
        self.start_batch = start_batch
        for listener in self.epoch_listeners:
            listener(epoch)

    def _all_batches(self) -> list[list[int]]:
        n = len(self.lengths)
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(n, generator=g).tolist() if self.shuffle else list(range(n))
        chunk = self.batch_size * self.bucket_size_multiplier
        batches: list[list[int]] = []
        for start in range(0, n, chunk):
            bucket = sorted(order[start : start + chunk], key=lambda i: self.lengths[i])
            batches += [bucket[i : i + self.batch_size] for i in range(0, len(bucket), self.batch_size)]
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        if self.shuffle:
            perm = torch.randperm(len(batches), generator=g).tolist()
            batches = [batches[i] for i in perm]
        if self.world_size > 1 and batches and self.even_shards:
            if self.drop_last:
                batches = batches[: len(batches) - len(batches) % self.world_size]
            else:
                # Repeat the first batches so every rank gets the same count (as DistributedSampler does).
                pad = (-len(batches)) % self.world_size
                batches = batches + batches[:pad]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._all_batches()[self.rank :: self.world_size][self.start_batch :]

    def __len__(self) -> int:
        # Bucketing can leave several short batches, so count them exactly (cheap: indices only).
        return len(self._all_batches()[self.rank :: self.world_size][self.start_batch :])


def build_tokenizer(cfg: ExperimentConfig) -> CharTokenizer:
    """``data.tokenizer``: the fixed a-z/space/apostrophe alphabet (default), or char/BPE from the training manifest."""
    from src.data.vocab import build_tokenizer as build  # src/data/vocab.py has the choices

    return build(cfg)


def build_datasets(
    cfg: ExperimentConfig, tokenizer: CharTokenizer, *, cmvn_state: dict | None = None
) -> dict[str, Dataset]:
    """``{"train", "val", "test"}`` datasets for ``data.dataset``.

    ``cmvn_state`` (a checkpoint's ``"cmvn"`` field) makes real-audio datasets reuse the
    training statistics instead of recomputing them; the toy task ignores it.
    """
    if cfg.data.dataset == "toy":
        from src.data.toy_seq2seq import ToySeq2Seq

        return {
            split: ToySeq2Seq(cfg.data, split=split, tokenizer=tokenizer, subsampling=cfg.model.subsampling)
            for split in ("train", "val", "test")
        }
    if cfg.data.dataset == "manifest":
        # Imported lazily: the real-audio front end is only needed for manifest data.
        from src.data.cmvn import GlobalCMVN
        from src.data.manifest import build_manifest_datasets

        cmvn = GlobalCMVN.from_dict(cmvn_state) if cmvn_state else None
        return build_manifest_datasets(cfg, tokenizer, cmvn=cmvn)
    raise ValueError(f"unknown data.dataset {cfg.data.dataset!r}; use 'toy' or 'manifest'")


def dataset_lengths(dataset: Dataset) -> list[int]:
    """Frame count per sample; datasets expose ``num_frames(i)`` so lengths come without loading features."""
    if hasattr(dataset, "num_frames"):
        return [int(dataset.num_frames(i)) for i in range(len(dataset))]
    return [int(dataset[i][2]) for i in range(len(dataset))]


def check_feature_dim(dataset: Dataset, input_dim: int) -> None:
    """The model's input_dim must equal the dataset's F; say which knob to change if not."""
    if len(dataset) == 0:
        return
    feat_dim = int(dataset[0][0].shape[1])
    if feat_dim != input_dim:
        raise ValueError(
            f"the data has feature dim F={feat_dim} but the model expects input_dim={input_dim}; "
            "make data.feat_dim (toy) or features.num_mel_bins (audio) match the model"
        )


def feature_dim(cfg: ExperimentConfig) -> int:
    """F for the configured dataset: ``data.feat_dim`` (toy) or ``features.num_mel_bins`` (audio)."""
    return cfg.data.feat_dim if cfg.data.dataset == "toy" else cfg.features.num_mel_bins


def build_dataloaders(
    cfg: ExperimentConfig,
    tokenizer: CharTokenizer,
    *,
    rank: int = 0,
    world_size: int = 1,
    input_dim: int | None = None,
    splits: tuple[str, ...] = ("train", "val", "test"),
    cmvn_state: dict | None = None,
) -> dict[str, DataLoader]:
    """``{"train", "val", "test"}`` loaders: bucketed and shuffled for train, length-sorted for eval.

    ``input_dim`` (the model's) is checked against the data's feature dim.
    The train loader's ``batch_sampler`` has ``set_epoch``; call it every epoch.
    With ``world_size > 1`` the train split is sharded evenly over ranks (padded so
    every rank runs the same number of steps) and the val split unevenly (each
    utterance scored once; the trainer all_reduces the counts); test is not sharded.
    """
    datasets = build_datasets(cfg, tokenizer, cmvn_state=cmvn_state)
    if input_dim is not None:
        check_feature_dim(datasets[splits[0]], input_dim)
    loaders = {}
    for split in splits:
        ds = datasets[split]
        train = split == "train"
        sampler = BucketBatchSampler(
            dataset_lengths(ds),
            cfg.training.batch_size,
            shuffle=train,
            seed=cfg.training.seed,
            bucket_size_multiplier=cfg.data.bucket_size_multiplier if train else 1,
            drop_last=False,
            rank=rank if split in ("train", "val") else 0,
            world_size=world_size if split in ("train", "val") else 1,
            even_shards=train,
        )
        if train and hasattr(ds, "set_epoch"):
            # DataLoader workers copy the dataset when an epoch's iterator starts, after set_epoch
            sampler.epoch_listeners.append(ds.set_epoch)
        # A private generator: creating a DataLoader iterator draws a base seed, and drawing it from
        # the global RNG would shift dropout masks between a resumed run and an uninterrupted one.
        loaders[split] = DataLoader(
            ds,
            batch_sampler=sampler,
            collate_fn=collate,
            num_workers=cfg.data.num_workers,
            generator=torch.Generator().manual_seed(cfg.training.seed),
        )
    return loaders
