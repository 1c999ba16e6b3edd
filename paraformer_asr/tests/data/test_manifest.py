"""JSONL manifests: parsing, clear errors, the dataset's samples, CMVN and augmentation."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from src.data.audio import write_wav
from src.data.manifest import ManifestDataset, ManifestError, build_manifest_datasets, read_manifest, resolve_audio_inputs
from src.data.tokenizer import UNK_ID, CharTokenizer
from src.utils.config import ExperimentConfig


def tone(freq: float, seconds: float) -> torch.Tensor:
    t = torch.arange(int(16000 * seconds), dtype=torch.float64) / 16000
    return (0.3 * torch.sin(2 * math.pi * freq * t)).float()


def make_corpus(root: Path, texts: list[str], name: str = "train.jsonl", seconds: float = 0.5) -> Path:
    (root / "wavs").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, text in enumerate(texts):
        wav = root / "wavs" / f"{name}_{i}.wav"
        write_wav(wav, tone(200.0 + 150 * i, seconds + 0.1 * i), 16000)
        lines.append(json.dumps({"audio_filepath": f"wavs/{wav.name}", "duration": seconds + 0.1 * i, "text": text}))
    path = root / name
    path.write_text("\n".join(lines) + "\n")
    return path


def config(root: Path, **data) -> ExperimentConfig:
    cfg = ExperimentConfig()
    d = dict(dataset="manifest", train_manifest=str(root / "train.jsonl"), val_manifest=str(root / "dev.jsonl"), **data)
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **d))


def test_relative_paths_and_normalised_text(tmp_path):
    path = make_corpus(tmp_path, ["Hello   World", "it\u2019s FINE"])
    entries = read_manifest(path)
    assert entries[0].audio_path == (tmp_path / "wavs" / "train.jsonl_0.wav").resolve()
    assert [e.text for e in entries] == ["hello world", "it's fine"]
    assert [e.line for e in entries] == [1, 2]


def test_missing_audio_file_is_named(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"audio_filepath": "gone.wav", "duration": 1.0, "text": "a"}) + "\n")
    with pytest.raises(ManifestError, match=r"m\.jsonl:1: audio file not found: .*gone\.wav"):
        read_manifest(path)


def test_bad_json_line_gives_line_number(tmp_path):
    path = make_corpus(tmp_path, ["one", "two"])
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[1], '{"audio_filepath": "x.wav", "duration": 1'])+ "\n")
    with pytest.raises(ManifestError, match=r"train\.jsonl:3: bad JSON"):
        read_manifest(path)


def test_missing_key_and_empty_text(tmp_path):
    make_corpus(tmp_path, ["ok"])
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"audio_filepath": "wavs/train.jsonl_0.wav", "text": "a"}) + "\n")
    with pytest.raises(ManifestError, match=r"missing\.jsonl:1: missing key\(s\) duration"):
        read_manifest(missing)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n" + json.dumps({"audio_filepath": "wavs/train.jsonl_0.wav", "duration": 0.5, "text": "  "}) + "\n")
    with pytest.raises(ManifestError, match=r"empty\.jsonl:2: empty text"):
        read_manifest(empty)


def test_samples_match_the_batching_contract(tmp_path):
    make_corpus(tmp_path, ["abc", "hello there"])
    make_corpus(tmp_path, ["dev one"], name="dev.jsonl")
    cfg = config(tmp_path)
    tok = CharTokenizer.from_alphabet()
    ds = ManifestDataset(tmp_path / "train.jsonl", cfg, tok, training=False)
    feats, tokens, T, L, text = ds[1]
    assert feats.dtype == torch.float32 and feats.shape == (T, 80)
    assert T == 1 + (int(0.6 * 16000) - 400) // 160 == ds.num_frames(1)
    assert tokens.dtype == torch.int64 and tokens.shape == (L,) == (11,)
    assert tok.decode(tokens.tolist()) == text == "hello there"


def test_oov_characters_warn_once_with_count(tmp_path):
    make_corpus(tmp_path, ["caf\u00e9 n\u00b01", "na\u00efve"])
    with pytest.warns(UserWarning, match=r"4 character\(s\) outside the vocabulary") as record:
        ds = ManifestDataset(tmp_path / "train.jsonl", config(tmp_path), CharTokenizer.from_alphabet(), training=False)
    assert len([w for w in record if "vocabulary" in str(w.message)]) == 1
    assert ds.tokens[0].count(UNK_ID) == 3 and ds.tokens[1].count(UNK_ID) == 1


def test_max_duration_skips_only_in_training(tmp_path):
    make_corpus(tmp_path, ["a", "b", "c"], seconds=0.5)  # durations 0.5, 0.6, 0.7
    cfg = config(tmp_path, max_duration=0.55)
    tok = CharTokenizer.from_alphabet()
    with pytest.warns(UserWarning, match="skipped 2 of 3"):
        train = ManifestDataset(tmp_path / "train.jsonl", cfg, tok, training=True)
    assert len(train) == 1
    assert len(ManifestDataset(tmp_path / "train.jsonl", cfg, tok, training=False)) == 3


def clips(root: Path, seconds: list[float], name: str = "train.jsonl") -> Path:
    (root / "wavs").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, sec in enumerate(seconds):
        wav = root / "wavs" / f"{name}_{i}.wav"
        write_wav(wav, tone(300.0, sec), 16000)
        lines.append(json.dumps({"audio_filepath": f"wavs/{wav.name}", "duration": sec, "text": "ab"}))
    (root / name).write_text("\n".join(lines) + "\n")
    return root / name


def test_utterances_too_short_for_the_front_end_skip_in_training_and_fail_in_scoring(tmp_path):
    # x4 front end: 7 frames of 25 ms at a 10 ms shift = 6 * 10 + 25 = 85 ms of audio at least
    clips(tmp_path, [0.5, 0.05, 0.084, 0.085, 0.6])
    cfg = config(tmp_path)
    tok = CharTokenizer.from_alphabet()
    with pytest.warns(UserWarning, match=r"skipped 2 of 5 utterances shorter than 85 ms .*first: line 2, 0\.050 s"):
        train = ManifestDataset(tmp_path / "train.jsonl", cfg, tok, training=True)
    assert [e.duration for e in train.entries] == [0.5, 0.085, 0.6]
    assert all(train[i][0].shape[0] >= 7 for i in range(len(train)))  # every kept clip reaches the model
    with pytest.raises(ManifestError, match=r"train\.jsonl: 2 of 5 utterances shorter than 85 ms.*remove them"):
        ManifestDataset(tmp_path / "train.jsonl", cfg, tok, training=False)
    # speed perturbation by up to 1.1 shortens a clip: the bound grows to 1.1 * 85 ms
    fast = dataclasses.replace(cfg, augment=dataclasses.replace(cfg.augment, enabled=True, speed_factors=[1.0, 1.1]))
    with pytest.warns(UserWarning, match=r"skipped 3 of 5 utterances shorter than 94 ms .*speed perturbation by 1\.1"):
        assert len(ManifestDataset(tmp_path / "train.jsonl", fast, tok, training=True)) == 2
    # subsampling x8 needs 15 frames: 14 * 10 + 25 = 165 ms
    x8 = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, subsampling=8))
    with pytest.warns(UserWarning, match=r"skipped 3 of 5 utterances shorter than 165 ms"):
        ManifestDataset(tmp_path / "train.jsonl", x8, tok, training=True)


def test_a_manifest_of_only_too_short_utterances_is_refused(tmp_path):
    clips(tmp_path, [0.02, 0.03])
    with pytest.raises(ManifestError, match="every utterance is too short"):
        ManifestDataset(tmp_path / "train.jsonl", config(tmp_path), CharTokenizer.from_alphabet(), training=True)


def test_build_datasets_cmvn_and_augmentation(tmp_path):
    make_corpus(tmp_path, ["one", "two", "three", "four"])
    make_corpus(tmp_path, ["dev"], name="dev.jsonl")
    cfg = config(tmp_path)
    cfg = dataclasses.replace(cfg, spec_augment=dataclasses.replace(cfg.spec_augment, enabled=True, time_mask_width=5))
    sets = build_manifest_datasets(cfg, CharTokenizer.from_alphabet(), progress=False)
    assert set(sets) == {"train", "val", "test"} and sets["test"] is sets["val"]
    cmvn = sets["train"].cmvn
    assert cmvn is not None and cmvn is sets["val"].cmvn and cmvn.count == sum(sets["train"].lengths)
    # evaluation: CMVN'd, deterministic; the training frames average to zero per bin
    val_a, val_b = sets["val"][0][0], sets["val"][0][0]
    assert torch.equal(val_a, val_b)
    # (the statistics come from the un-dithered features; training adds dither to the waveform)
    raw = torch.cat([sets["train"].cache.get(e.audio_path) for e in sets["train"].entries])
    normed = cmvn.apply(raw)
    assert torch.allclose(normed.mean(0), torch.zeros(80), atol=1e-4)
    # training: SpecAugment zeroes whole bands/frames, differently on each draw
    torch.manual_seed(0)
    draws = [sets["train"][0][0] for _ in range(4)]
    assert any((d == 0).all(dim=0).any() for d in draws)
    assert not all(torch.equal(draws[0], d) for d in draws[1:])
    # the second build reads every feature from the cache
    again = build_manifest_datasets(cfg, CharTokenizer.from_alphabet(), progress=False)
    assert again["train"].cache.misses == 0 and again["train"].cache.hits == 4
    assert torch.allclose(torch.tensor(again["train"].cmvn.to_dict()["sum"]), torch.tensor(cmvn.to_dict()["sum"]))


def test_empty_manifest_keys_are_reported(tmp_path):
    cfg = ExperimentConfig()
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, dataset="manifest"))
    with pytest.raises(ManifestError, match="data.train_manifest is empty"):
        build_manifest_datasets(cfg, CharTokenizer.from_alphabet())


def test_resolve_audio_inputs(tmp_path):
    path = make_corpus(tmp_path, ["first one", "second"])
    wavs = sorted((tmp_path / "wavs").glob("*.wav"))
    assert resolve_audio_inputs(wavs[0]) == [(wavs[0], None)]
    assert resolve_audio_inputs(tmp_path / "wavs") == [(w, None) for w in wavs]
    assert [t for _, t in resolve_audio_inputs(path)] == ["first one", "second"]
    with pytest.raises(ManifestError, match="no such file"):
        resolve_audio_inputs(tmp_path / "missing.wav")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestError, match="no .wav files"):
        resolve_audio_inputs(tmp_path / "empty")
