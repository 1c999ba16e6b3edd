"""The vocabulary for ``data.tokenizer``: build it from the config, rebuild it from a checkpoint.

- ``alphabet``: the fixed a-z, space and apostrophe of :class:`CharTokenizer` (the toy task,
  the synthetic speech corpus and every checkpoint written before this option existed);
- ``char``: every character of the training manifest seen at least ``data.char_min_count``
  times; any script, e.g. AISHELL-1's ~4200 Mandarin characters;
- ``bpe``: byte-level BPE (src/data/bpe.py) trained on the training manifest, ``data.bpe_vocab_size`` ids.

Both built vocabularies come from the *training* transcripts only (normalised as the
manifest reader normalises them), so dev/test text never leaks into the model. The
tokenizer is stored as JSON in every checkpoint; ``tokenizer_from_json`` reads either kind.
"""

from __future__ import annotations

import json
from typing import Union

from src.data.bpe import BPETokenizer
from src.data.tokenizer import CharTokenizer
from src.utils.config import ExperimentConfig

Tokenizer = Union[CharTokenizer, BPETokenizer]


def build_tokenizer(cfg: ExperimentConfig) -> Tokenizer:
    """The tokenizer ``cfg.data.tokenizer`` asks for (built vocabularies need ``data.train_manifest``)."""
    kind = cfg.data.tokenizer
    if kind == "alphabet":
        return CharTokenizer.from_alphabet()
    if cfg.data.dataset != "manifest" or not cfg.data.train_manifest:
        raise ValueError(
            f"data.tokenizer={kind} builds its vocabulary from the training transcripts, so it needs "
            "data.dataset=manifest and data.train_manifest; use data.tokenizer=alphabet for the toy task"
        )
    from src.data.manifest import read_manifest  # the toy task never imports the audio stack

    texts = [e.text for e in read_manifest(cfg.data.train_manifest, check_files=False)]
    if kind == "char":
        return CharTokenizer.build(texts, min_count=cfg.data.char_min_count)
    if kind == "bpe":
        return BPETokenizer.train(texts, cfg.data.bpe_vocab_size, progress=True)
    raise ValueError(f"unknown data.tokenizer {kind!r}; use 'alphabet', 'char' or 'bpe'")


def tokenizer_from_json(text: str) -> Tokenizer:
    """A checkpoint's ``"tokenizer"`` field -> the tokenizer it was trained with."""
    kind = json.loads(text).get("type")
    if kind == "char":
        return CharTokenizer.from_json(text)
    if kind == "bpe":
        return BPETokenizer.from_json(text)
    raise ValueError(f"unknown tokenizer type {kind!r} in checkpoint JSON; expected 'char' or 'bpe'")
