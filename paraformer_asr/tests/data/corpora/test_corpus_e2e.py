"""Prepare -> manifest -> train a few steps -> eval, for each corpus's fixture tree (in-process, tiny model).

LibriSpeech trains a BPE vocabulary, AISHELL-1 a Mandarin character vocabulary, Common
Voice and the folder the char vocabulary. A few steps teach nothing; the test checks
the plumbing: the vocabulary in the checkpoint, decoding, CER/WER over the right units.
"""

import warnings

import pytest
import torch

from src.data.bpe import BPETokenizer
from src.data.corpora import aishell, commonvoice, folder, librispeech
from src.data.corpora.common import write_manifests
from src.data.tokenizer import CharTokenizer
from src.training.evaluate import decode_options, evaluate, manifest_loader
from src.training.inference import load_for_inference
from src.training.trainer import train
from src.utils.checkpoint import load_checkpoint
from src.utils.config import load_config
from tests.data.corpora.fixtures import aishell_tree, folder_tree, needs_ffmpeg


def _train_and_eval(tmp_path, manifests: dict[str, str], tokenizer: str, extra=()):
    cfg = load_config("configs/tiny_paraformer.yaml", [
        "data.dataset=manifest", f"data.train_manifest={manifests['train']}", f"data.val_manifest={manifests['dev']}",
        f"data.test_manifest={manifests['test']}", f"data.tokenizer={tokenizer}", f"data.cache_dir={tmp_path / 'cache'}",
        "features.num_mel_bins=16", "training.batch_size=2", "training.max_steps=2", "training.num_epochs=1", *extra])
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny data: short-epoch and BPE-size warnings are expected
        train(cfg, run_dir, console=False, make_plots=False)
    ckpt = run_dir / "checkpoints" / "best.pt"
    model, tok, cfg = load_for_inference(ckpt)
    loader, seconds = manifest_loader(cfg, tok, manifests["test"], cmvn_state=load_checkpoint(ckpt)["cmvn"])
    with torch.inference_mode():
        result = evaluate(model, loader, tok, torch.device("cpu"), decode_opts=decode_options(cfg, "greedy", 1), detailed=True)
    assert result["num_utterances"] == len(loader.dataset) and seconds > 0
    assert result["cer"] >= 0 and result["wer"] >= 0
    return tok, result


@needs_ffmpeg
def test_librispeech_bpe(tmp_path, librispeech_root):
    summary = write_manifests(librispeech.collect(librispeech_root), tmp_path / "data", progress=False)
    m = {k: summary["splits"][s]["manifest"] for k, s in [("train", "train-clean-100"), ("dev", "dev-clean"), ("test", "test-clean")]}
    tok, result = _train_and_eval(tmp_path, m, "bpe", ["data.bpe_vocab_size=280"])
    assert isinstance(tok, BPETokenizer) and tok.vocab_size <= 280
    assert all(isinstance(u["hyp"], str) for u in result["utterances"])


def test_aishell_mandarin_chars_train_and_decode(tmp_path):
    summary = write_manifests(aishell.collect(aishell_tree(tmp_path)), tmp_path / "data", progress=False)
    m = {s: summary["splits"][s]["manifest"] for s in ("train", "dev", "test")}
    tok, result = _train_and_eval(tmp_path, m, "char")
    assert isinstance(tok, CharTokenizer) and set("我们去北京你好世界") <= set(tok.chars) and " " not in tok.chars
    refs = [u["ref"] for u in result["utterances"]]
    assert sorted(refs) == ["北京世界", "我们你好"]
    # CER counts characters: errors are bounded by characters, not by the 1 "word" of each sentence.
    for u in result["utterances"]:
        assert u["errors"] <= max(len(u["ref"]), len(u["hyp"]))


@needs_ffmpeg
def test_commonvoice_mp3_char(tmp_path, commonvoice_root):
    summary = write_manifests(commonvoice.collect(commonvoice_root / "en"), tmp_path / "data", progress=False)
    m = {s: summary["splits"][s]["manifest"] for s in ("train", "dev", "test")}
    tok, _ = _train_and_eval(tmp_path, m, "char")
    assert "'" in tok.chars and "." not in tok.chars


def test_folder_char(tmp_path):
    collected = folder.collect(folder_tree(tmp_path), dev_fraction=0.25, test_fraction=0.25)
    summary = write_manifests(collected, tmp_path / "data", progress=False)
    m = {s: summary["splits"][s]["manifest"] for s in ("train", "dev", "test")}
    _train_and_eval(tmp_path, m, "char")
