"""The training pipeline's waveform path: dither with the cache on, augmentation seeded by
(seed, utterance, epoch), bit-identical when off, the epoch set through the sampler, and
CMVN statistics over speech frames."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import torch

from src.data.audio import read_wav, write_wav
from src.data.batching import build_dataloaders
from src.data.cmvn import GlobalCMVN, speech_frame_mask
from src.data.features import FLT_EPSILON, Fbank
from src.data.manifest import ManifestDataset, read_manifest
from src.data.tokenizer import CharTokenizer
from src.utils.config import ExperimentConfig

ALL_ON = dict(enabled=True, reverb_prob=0.5, silence_prob=1.0, noise_prob=1.0, gain_prob=1.0)


def corpus(root: Path, n: int = 4) -> Path:
    (root / "wavs").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        t = torch.arange(8000, dtype=torch.float64) / 16000
        x = torch.cat([torch.zeros(1600), (0.3 * torch.sin(2 * math.pi * (200 + 100 * i) * t)).float()])
        write_wav(root / "wavs" / f"{i}.wav", x, 16000)
        lines.append(json.dumps({"audio_filepath": f"wavs/{i}.wav", "duration": x.numel() / 16000, "text": "ab",
                                 "snr_db": None if i % 2 else 20.0 + i}))
    (root / "train.jsonl").write_text("\n".join(lines) + "\n")
    (root / "dev.jsonl").write_text("\n".join(lines[:1]) + "\n")
    return root / "train.jsonl"


def config(root: Path, *, augment: dict | None = None, **features) -> ExperimentConfig:
    cfg = ExperimentConfig()
    data = dataclasses.replace(cfg.data, dataset="manifest", train_manifest=str(root / "train.jsonl"),
                               val_manifest=str(root / "dev.jsonl"))
    return dataclasses.replace(cfg, data=data, features=dataclasses.replace(cfg.features, **features),
                               augment=dataclasses.replace(cfg.augment, **(augment or {})),
                               training=dataclasses.replace(cfg.training, batch_size=2))


def dataset(root: Path, cfg: ExperimentConfig) -> ManifestDataset:
    return ManifestDataset(root / "train.jsonl", cfg, CharTokenizer.from_alphabet(), training=True)


def test_manifest_keeps_extra_fields(tmp_path):
    entries = read_manifest(corpus(tmp_path))
    assert [e.extra for e in entries[:2]] == [{"snr_db": 20.0}, {"snr_db": None}]


def test_dither_applies_with_the_feature_cache_on(tmp_path):
    corpus(tmp_path)
    ds = dataset(tmp_path, config(tmp_path))  # data.feature_cache defaults to true, features.dither to 1.0
    assert ds.cache is not None
    cached = ds.cache.get(ds.entries[0].audio_path)
    assert (cached[:5] == math.log(FLT_EPSILON)).all()  # the leading digital silence sits on the floor
    trained = ds.raw_features(0, torch.Generator().manual_seed(0))
    assert trained.shape == cached.shape and float(trained[:5].min()) > math.log(FLT_EPSILON) + 1.0
    # eval splits still read the cache, without dither
    ev = ManifestDataset(tmp_path / "train.jsonl", config(tmp_path), CharTokenizer.from_alphabet(), training=False)
    assert torch.equal(ev.raw_features(0), cached)


def test_augmentation_off_is_bit_identical_to_no_augmentation(tmp_path):
    corpus(tmp_path)
    off = dataset(tmp_path, config(tmp_path, augment=dict(ALL_ON, enabled=False)))
    assert off.augment is None
    fbank = Fbank(off.cfg.features)
    for i in range(2):
        wave = read_wav(off.entries[i].audio_path)
        plain = fbank(wave, training=True, generator=torch.Generator().manual_seed(7))
        assert torch.equal(off.raw_features(i, torch.Generator().manual_seed(7)), plain.to(torch.float32))
    # and the whole sample, SpecAugment included, equals a run whose config never mentioned augmentation
    base = dataset(tmp_path, config(tmp_path))
    torch.manual_seed(3)
    a = off[1][0]
    torch.manual_seed(3)
    assert torch.equal(a, base[1][0])


def test_augmentation_is_a_function_of_seed_utterance_and_epoch(tmp_path):
    corpus(tmp_path)
    cfg = config(tmp_path, augment=ALL_ON, dither=0.0)
    ds1, ds2 = dataset(tmp_path, cfg), dataset(tmp_path, cfg)
    for ds in (ds1, ds2):
        ds.set_epoch(4)
    a, b = ds1.raw_features(1), ds2.raw_features(1)
    assert torch.equal(a, b)
    ds2.set_epoch(5)
    c = ds2.raw_features(1)
    assert not (c.shape == a.shape and torch.equal(c, a))
    other_seed = dataset(tmp_path, dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, seed=9)))
    other_seed.set_epoch(4)
    d = other_seed.raw_features(1)
    assert not (d.shape == a.shape and torch.equal(d, a))
    # the clean fbank differs from the augmented one
    clean = Fbank(cfg.features)(read_wav(ds1.entries[1].audio_path))
    assert not (clean.shape == a.shape and torch.equal(clean.float(), a))


def test_clean_epochs_are_bit_identical_to_no_augmentation(tmp_path):
    corpus(tmp_path)
    warm = dataset(tmp_path, config(tmp_path, augment=dict(ALL_ON, clean_epochs=2)))
    off = dataset(tmp_path, config(tmp_path, augment=dict(ALL_ON, enabled=False)))
    on = dataset(tmp_path, config(tmp_path, augment=ALL_ON))
    for epoch in range(3):
        for ds in (warm, off, on):
            ds.set_epoch(epoch)
        a = warm.raw_features(1, torch.Generator().manual_seed(5))
        b = off.raw_features(1, torch.Generator().manual_seed(5))
        c = on.raw_features(1, torch.Generator().manual_seed(5))
        if epoch < 2:
            assert torch.equal(a, b), epoch
        else:  # from epoch index 2 on it is the augmented pipeline, draw for draw
            assert torch.equal(a, c) and not (a.shape == b.shape and torch.equal(a, b))


def test_sampler_set_epoch_reaches_the_dataset(tmp_path):
    corpus(tmp_path)
    loaders = build_dataloaders(config(tmp_path, augment=ALL_ON), CharTokenizer.from_alphabet(), splits=("train",))
    loaders["train"].batch_sampler.set_epoch(6)
    assert loaders["train"].dataset.epoch == 6
    batch = next(iter(loaders["train"]))
    assert batch["feats"].shape[0] == 2


def test_cmvn_statistics_ignore_silence():
    g = torch.Generator().manual_seed(0)
    speech = 10.0 + torch.randn(50, 80, generator=g, dtype=torch.float64)
    silence = torch.full((200, 80), math.log(FLT_EPSILON), dtype=torch.float64)
    assert speech_frame_mask(torch.cat([silence, speech]), 50.0).tolist() == [False] * 200 + [True] * 50
    assert speech_frame_mask(torch.cat([silence, speech]), 0.0).all()
    only, padded, every = GlobalCMVN(80), GlobalCMVN(80), GlobalCMVN(80)
    only.accumulate(speech, frame_range_db=50.0)
    padded.accumulate(torch.cat([silence, speech, silence]), frame_range_db=50.0)
    every.accumulate(torch.cat([silence, speech, silence]))
    assert padded.count == 50 and torch.allclose(padded.mean, only.mean) and torch.allclose(padded.std, only.std)
    assert every.count == 450 and float(every.std.mean()) > 5 * float(only.std.mean())  # silence dominates otherwise
