"""The GPU recipes parse, and read the manifests that scripts/prepare_data.py writes for their corpus."""

from pathlib import Path

import pytest
import torch

from src.data.corpora import aishell, librispeech
from src.models import build_model
from src.utils.config import load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("config,out,names,tokenizer", [
    ("librispeech_100h.yaml", "data/librispeech", ("train-clean-100", "dev-clean", "test-clean"), "bpe"),
    ("aishell.yaml", "data/aishell", aishell.SPLITS, "char"),
])
def test_recipe_reads_what_prepare_data_writes(config, out, names, tokenizer):
    cfg = load_config(ROOT / "configs" / config)
    assert cfg.data.dataset == "manifest" and cfg.data.tokenizer == tokenizer
    assert [cfg.data.train_manifest, cfg.data.val_manifest, cfg.data.test_manifest] == [f"{out}/{n}.jsonl" for n in names]
    if config.startswith("librispeech"):
        assert set(names) <= set(librispeech.SUBSETS)
    with torch.device("meta"):  # shapes only: no memory, no initialisation time
        model = build_model(cfg, 5000, cfg.features.num_mel_bins)
    assert 30e6 < sum(p.numel() for p in model.parameters()) < 50e6  # the size the README quotes
