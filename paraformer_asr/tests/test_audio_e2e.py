"""Real audio end to end, in a temporary folder: WAVs -> manifests -> train (tiny) -> eval --manifest -> infer --audio.

The WAVs are espeak-ng speech (scripts/make_speech_data.py --n 6 --text wordlist) where espeak-ng is
installed, and tones built here otherwise, so the test always runs. The quality of a
few-step model is not checked; the plumbing (JSON keys, value ranges, timestamps, errors) is.
"""

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from src.data.audio import read_wav, write_wav
from src.data.tokenizer import CharTokenizer
from src.models import build_model
from src.training.transcribe import AudioInputError, check_duration, header_seconds
from src.utils.checkpoint import save_checkpoint
from src.utils.config import load_config

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny models gain nothing from more threads on a shared CPU
SR = 16000


def run(*args):
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)


def tone_corpus(out: Path) -> None:
    """A tone per letter, 0.15 s each with 0.05 s gaps: 'ab', 'ba', 'abba', ... as 16 kHz WAVs and manifests."""
    freqs = {"a": 440.0, "b": 880.0, "c": 1320.0}
    texts = {"train": ["ab", "ba", "abc", "cab"], "dev": ["bca"], "test": ["acb"]}
    for split, items in texts.items():
        lines = []
        for i, text in enumerate(items):
            pieces = [np.zeros(int(0.1 * SR))]
            for ch in text:
                t = np.arange(int(0.15 * SR)) / SR
                pieces += [0.5 * np.sin(2 * math.pi * freqs[ch] * t), np.zeros(int(0.05 * SR))]
            wave = np.concatenate(pieces).astype(np.float32)
            rel = f"wavs/{split}/{split}_{i:06d}.wav"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            write_wav(out / rel, wave, SR)
            lines.append(json.dumps({"audio_filepath": rel, "duration": len(wave) / SR, "text": text}))
        (out / f"{split}.jsonl").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("speech")
    if shutil.which("espeak-ng"):
        res = run("scripts/make_speech_data.py", "--out", out, "--n", "6", "--seed", "0", "--workers", "1", "--text", "wordlist")
        assert res.returncode == 0, res.stderr
    else:
        tone_corpus(out)
    return out


def train_on_corpus(config: str, corpus: Path, runs: Path) -> Path:
    """Three steps of ``config`` on the tiny corpus; the best.pt checkpoint."""
    res = run(
        "scripts/train.py", "--config", config, "--runs-dir", runs, "--run-name", "audio",
        "--override", "data.dataset=manifest", f"data.train_manifest={corpus / 'train.jsonl'}",
        f"data.val_manifest={corpus / 'dev.jsonl'}", f"data.test_manifest={corpus / 'test.jsonl'}",
        "training.batch_size=2", "training.max_steps=3", "training.num_epochs=1",
    )
    assert res.returncode == 0, res.stderr
    ckpt = runs / "audio" / "checkpoints" / "best.pt"
    assert ckpt.exists()
    return ckpt


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    return train_on_corpus("configs/tiny_paraformer.yaml", corpus, tmp_path_factory.mktemp("runs"))


def check_file_result(item: dict, wav: Path) -> None:
    """One file's JSON: one timestamp per token, non-decreasing, inside the audio."""
    duration = header_seconds(wav)
    assert item["duration"] == pytest.approx(duration, abs=1e-3)
    assert item["text"] == "".join(t for t in item["tokens"] if t != "<unk>")  # <unk> is output, not text
    stamps = item["timestamps"]
    assert len(stamps) == len(item["tokens"])
    assert all(a <= b for a, b in zip(stamps, stamps[1:])), stamps
    assert all(0.0 <= s < duration for s in stamps), (stamps, duration)
    # Each is the start of an encoder frame: a whole multiple of 4 x 10 ms (tiny_paraformer: x4 subsampling).
    assert all(abs(s / 0.04 - round(s / 0.04)) < 1e-6 for s in stamps), stamps
    assert item["rtf"] > 0.0


@pytest.mark.slow  # subprocesses: a few seconds each on a quiet CPU
@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_eval_manifest(trained, corpus, tmp_path, method):
    out = tmp_path / "eval.json"
    manifest = corpus / "train.jsonl"  # the largest split: 4 utterances
    res = run("scripts/eval.py", "--checkpoint", trained, "--manifest", manifest, "--decode-method", method,
              "--beam-size", "2", "--output", out)
    assert res.returncode == 0, res.stderr
    result = json.loads(out.read_text())
    entries = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert result["num_utterances"] == len(entries) == 4
    assert result["manifest"] == str(manifest) and result["decode_method"] == method
    assert result["cer"] >= 0.0 and result["wer"] >= 0.0
    assert 0.0 <= result["token_accuracy"] <= 1.0 and 0.0 <= result["sequence_accuracy"] <= 1.0
    assert result["audio_seconds"] == pytest.approx(sum(e["duration"] for e in entries), abs=1e-2)
    assert result["decode_seconds"] > 0.0
    assert result["rtf"] == pytest.approx(result["decode_seconds"] / result["audio_seconds"])


@pytest.mark.slow
def test_eval_own_test_split_reports_rtf(trained, corpus):
    res = run("scripts/eval.py", "--checkpoint", trained)  # data.test_manifest of the checkpoint's config
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    entries = [json.loads(line) for line in (corpus / "test.jsonl").read_text().splitlines()]
    assert result["split"] == "test" and result["num_utterances"] == len(entries) == 1
    assert result["audio_seconds"] == pytest.approx(entries[0]["duration"], abs=1e-2)
    assert result["rtf"] == pytest.approx(result["decode_seconds"] / result["audio_seconds"])


@pytest.mark.slow
def test_infer_audio_file_and_folder(trained, corpus, tmp_path):
    wav = sorted((corpus / "wavs" / "test").glob("*.wav"))[0]
    out = tmp_path / "one.json"
    res = run("scripts/infer.py", "--checkpoint", trained, "--audio", wav, "--output", out)
    assert res.returncode == 0, res.stderr
    assert "hyp:" in res.stdout and "timestamps" in res.stdout and "real-time factor" in res.stdout
    result = json.loads(out.read_text())
    assert result["num_files"] == 1 and len(result["files"]) == 1
    check_file_result(result["files"][0], wav)
    assert result["seconds_per_encoder_frame"] == pytest.approx(0.04)  # x4 subsampling of 10 ms frames

    folder = corpus / "wavs" / "train"
    out = tmp_path / "folder.json"
    res = run("scripts/infer.py", "--checkpoint", trained, "--audio", folder, "--decode-method", "beam",
              "--beam-size", "2", "--output", out)
    assert res.returncode == 0, res.stderr
    result = json.loads(out.read_text())
    wavs = sorted(folder.glob("*.wav"))
    assert [Path(f["audio_filepath"]).name for f in result["files"]] == [w.name for w in wavs]
    for item, w in zip(result["files"], wavs):
        check_file_result(item, w)
    assert result["decode_method"] == "beam" and result["beam_size"] == 2


@pytest.mark.slow
def test_infer_manifest_prints_references(trained, corpus):
    res = run("scripts/infer.py", "--checkpoint", trained, "--audio", corpus / "dev.jsonl")
    assert res.returncode == 0, res.stderr
    ref = json.loads((corpus / "dev.jsonl").read_text().splitlines()[0])["text"]
    assert f"ref: {ref}" in res.stdout


@pytest.mark.slow
def test_long_audio_is_split_by_the_vad(trained, corpus, tmp_path):
    # 61 s (the default per-segment limit serve.max_audio_seconds is 60): the corpus's
    # utterances with 2 s pauses, repeated; infer transcribes it segment by segment.
    clips = [read_wav(p) for p in sorted((corpus / "wavs").rglob("*.wav"))]
    pause = torch.zeros(2 * SR)
    pieces, n = [], 0
    while n < 61 * SR:
        for c in clips:
            pieces += [c, pause]
            n += c.numel() + pause.numel()
    long_wav = tmp_path / "long.wav"
    write_wav(long_wav, torch.cat(pieces)[: 61 * SR], SR)
    out = tmp_path / "long.json"
    res = run("scripts/infer.py", "--checkpoint", trained, "--audio", long_wav, "--output", out)
    assert res.returncode == 0, res.stderr
    assert "speech segment(s) (VAD)" in res.stdout
    item = json.loads(out.read_text())["files"][0]
    segments = item["segments"]
    assert len(segments) >= 5 and item["duration"] == pytest.approx(61.0, abs=1e-3)
    assert all(0 <= s["start"] < s["end"] <= 61.0 for s in segments)
    assert all(a["end"] <= b["start"] for a, b in zip(segments, segments[1:]))
    assert all(s["end"] - s["start"] <= 20.0 for s in segments)  # vad.max_segment_seconds
    # eval --manifest keeps the limit per utterance.
    manifest = tmp_path / "long.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": "long.wav", "duration": 61.0, "text": "speech"}) + "\n")
    res = run("scripts/eval.py", "--checkpoint", trained, "--manifest", manifest, "--max-audio-seconds", "30")
    assert res.returncode == 2 and "longer than the limit of 30 s" in res.stderr


def test_duration_check_names_limit_and_key(tmp_path):
    wav = tmp_path / "a.wav"
    write_wav(wav, np.zeros(SR // 2, dtype=np.float32), SR)
    assert header_seconds(wav) == pytest.approx(0.5)
    check_duration(wav, 0.5, 1.0)  # under the limit: no error
    check_duration(wav, 100.0, 0.0)  # 0 = no limit
    with pytest.raises(AudioInputError, match=r"100.0 s of audio is longer than the limit of 1 s \(serve.max_audio_seconds"):
        check_duration(wav, 100.0, 1.0)


def toy_checkpoint(path: Path) -> Path:
    """An untrained checkpoint of the toy task, with the fields load_for_inference reads."""
    cfg = load_config(ROOT / "configs" / "tiny_paraformer.yaml")
    tokenizer = CharTokenizer.from_alphabet()
    torch.manual_seed(0)
    model = build_model(cfg, tokenizer.vocab_size, cfg.data.feat_dim)
    save_checkpoint(path, {"model": model.state_dict(), "config": dataclasses.asdict(cfg), "tokenizer": tokenizer.to_json()})
    return path


@pytest.mark.slow
def test_checkpoint_and_input_mismatch(trained, corpus, tmp_path):
    wav = sorted((corpus / "wavs" / "test").glob("*.wav"))[0]
    toy = toy_checkpoint(tmp_path / "toy.pt")
    res = run("scripts/infer.py", "--checkpoint", toy, "--audio", wav)
    assert res.returncode == 2 and "was trained on toy features (data.dataset=toy)" in res.stderr
    assert "--text / --features" in res.stderr
    res = run("scripts/eval.py", "--checkpoint", toy, "--manifest", corpus / "test.jsonl")
    assert res.returncode == 2 and "was trained on toy features" in res.stderr
    res = run("scripts/infer.py", "--checkpoint", trained, "--text", "hello")
    assert res.returncode == 2 and "was trained on audio (data.dataset=manifest)" in res.stderr
    assert "--audio file.wav" in res.stderr


@pytest.mark.slow
def test_eval_group_by_manifest_fields(trained, corpus, tmp_path):
    # the training manifest with condition fields added, as the robust-speech test sets carry them
    lines = [json.loads(line) for line in (corpus / "train.jsonl").read_text().splitlines()]
    for i, line in enumerate(lines):
        line["audio_filepath"] = str(corpus / line["audio_filepath"])
        line.update(snr_db=[None, 35.0, 25.0, 5.0][i], engine=["a", "b", "a", "b"][i])
    manifest = tmp_path / "conditions.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    res = run("scripts/eval.py", "--checkpoint", trained, "--manifest", manifest, "--group-by", "snr_db",
              "--group-by", "engine")
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    snr = result["groups"]["snr_db"]
    assert list(snr) == ["clean", ">=30 dB", "20-30 dB", "<10 dB"]
    assert all(g["num_utterances"] == 1 for g in snr.values())
    assert sum(g["num_utterances"] for g in result["groups"]["engine"].values()) == 4
    assert "utterances" not in result  # only with --detailed
    assert "snr_db" in res.stderr and "20-30 dB" in res.stderr and "all" in res.stderr  # the printed table


@pytest.mark.slow
def test_train_lm_and_tune_lm_on_a_manifest(trained, corpus, tmp_path):
    lm = tmp_path / "lm.json"
    res = run("scripts/train_lm.py", "--checkpoint", trained, "--manifest", corpus / "train.jsonl",
              "--dev", corpus / "dev.jsonl", "--order", "3", "--out", lm)
    assert res.returncode == 0, res.stderr
    assert "perplexity per token on" in res.stdout
    grid = tmp_path / "grid.json"
    res = run("scripts/tune_lm.py", "--checkpoint", trained, "--lm", lm, "--manifest", corpus / "train.jsonl",
              "--weights", "0", "0.5", "--bonuses", "0", "1", "--beam-size", "2", "--output", grid)
    assert res.returncode == 0, res.stderr
    result = json.loads(grid.read_text())
    assert [(g["lm_weight"], g["lm_bonus"]) for g in result["grid"]] == [(0, 0), (0, 1), (0.5, 0), (0.5, 1)]
    assert result["best"]["cer"] == min(g["cer"] for g in result["grid"]) and "best: --lm" in res.stdout
    # Weight 0 and bonus 0 is the plain prefix beam search: eval.py's ctc_beam CER on the same manifest.
    out = tmp_path / "eval.json"
    res = run("scripts/eval.py", "--checkpoint", trained, "--manifest", corpus / "train.jsonl",
              "--decode-method", "ctc_beam", "--beam-size", "2", "--output", out)
    assert res.returncode == 0, res.stderr
    assert result["grid"][0]["cer"] == pytest.approx(json.loads(out.read_text())["cer"])


@pytest.fixture(scope="module")
def trained_ctc(corpus, tmp_path_factory):
    return train_on_corpus("configs/tiny_ctc.yaml", corpus, tmp_path_factory.mktemp("runs_ctc"))


@pytest.mark.slow
def test_eval_vtln_on_an_audio_ctc_checkpoint(trained_ctc, corpus, tmp_path):
    manifest = corpus / "train.jsonl"

    def hyps(*extra):
        out = tmp_path / "eval.json"
        res = run("scripts/eval.py", "--checkpoint", trained_ctc, "--manifest", manifest, "--detailed", "--output", out, *extra)
        assert res.returncode == 0, res.stderr
        result = json.loads(out.read_text())
        return result, [u["hyp"] for u in result["utterances"]]

    plain, plain_hyps = hyps()
    one, one_hyps = hyps("--vtln-warps", "1.0")  # a single factor of 1 is no warp at all
    assert one_hyps == plain_hyps and one["cer"] == plain["cer"] and plain["vtln_warps"] is None
    several, _ = hyps("--vtln-warps", "0.85,1.0,1.15")
    assert several["vtln_warps"] == [0.85, 1.0, 1.15] and several["num_utterances"] == 4


@pytest.mark.slow
def test_tune_lm_with_vtln_scores_what_eval_decodes(trained_ctc, corpus, tmp_path):
    """tune_lm.py --vtln-warps reads the log-probs eval.py decodes with the same warps: at weight 0 and
    bonus 0 its CER is eval.py's ctc_beam CER with --vtln-warps; a single factor of 1 is the plain grid."""
    manifest, lm = corpus / "train.jsonl", tmp_path / "lm.json"
    res = run("scripts/train_lm.py", "--checkpoint", trained_ctc, "--manifest", manifest, "--order", "3", "--out", lm)
    assert res.returncode == 0, res.stderr

    def tune(*extra):
        grid = tmp_path / "grid.json"
        res = run("scripts/tune_lm.py", "--checkpoint", trained_ctc, "--lm", lm, "--manifest", manifest, "--weights", "0", "0.5",
                  "--bonuses", "0", "--beam-size", "2", "--output", grid, *extra)  # fmt: skip
        assert res.returncode == 0, res.stderr
        return json.loads(grid.read_text()), res.stdout

    def eval_cer(*extra):
        out = tmp_path / "eval.json"
        res = run("scripts/eval.py", "--checkpoint", trained_ctc, "--manifest", manifest, "--decode-method", "ctc_beam",
                  "--beam-size", "2", "--output", out, *extra)  # fmt: skip
        assert res.returncode == 0, res.stderr
        return json.loads(out.read_text())["cer"]

    plain, _ = tune()
    one, _ = tune("--vtln-warps", "1.0")
    assert one["grid"] == plain["grid"] and (plain["vtln_warps"], one["vtln_warps"]) == (None, [1.0])
    warped, stdout = tune("--vtln-warps", "0.85,1.0,1.15")
    assert warped["vtln_warps"] == [0.85, 1.0, 1.15] and "--vtln-warps 0.85,1,1.15" in stdout
    warped_cer, plain_cer = eval_cer("--vtln-warps", "0.85,1.0,1.15"), eval_cer()
    assert warped_cer != plain_cer  # the warps change this model's output, so ignoring them would be seen
    assert warped["grid"][0]["cer"] == pytest.approx(warped_cer)
    assert plain["grid"][0]["cer"] == pytest.approx(plain_cer)


@pytest.mark.slow
def test_infer_vtln_on_audio(trained_ctc, corpus, tmp_path):
    wav = sorted((corpus / "wavs").rglob("*.wav"))[0]

    def infer(*extra):
        out = tmp_path / "infer.json"
        res = run("scripts/infer.py", "--checkpoint", trained_ctc, "--audio", wav, "--output", out, *extra)
        assert res.returncode == 0, res.stderr
        return json.loads(out.read_text())

    plain, one = infer(), infer("--vtln-warps", "1.0")
    assert one["files"][0]["text"] == plain["files"][0]["text"] and (plain["vtln_warps"], one["vtln_warps"]) == (None, [1.0])
    res = run("scripts/infer.py", "--checkpoint", trained_ctc, "--text", "hello", "--vtln-warps", "0.9,1.0")
    assert res.returncode == 2 and "--vtln-warps warps the spectrum of audio: it needs --audio" in res.stderr
