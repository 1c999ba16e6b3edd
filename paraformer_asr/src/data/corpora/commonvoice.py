"""Mozilla Common Voice: ``clips/*.mp3`` with ``train.tsv`` / ``dev.tsv`` / ``test.tsv`` (columns ``path``, ``sentence``, ...).

Normalisation follows icefall's ``egs/commonvoice/ASR/local/preprocess_commonvoice.py``:
hyphens become spaces, the typographic apostrophe becomes ``'``, and for English
everything but letters, whitespace (and, unlike icefall's English rule but as its
French and Polish ones, the apostrophe) is removed. icefall then upper-cases; we
lower-case, for our tokenizers. Other languages: Unicode NFC, punctuation (Unicode
category P except ``'``) removed, lower-cased; letters of any script are kept (use
``data.tokenizer: char`` or ``bpe``).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from pathlib import Path

from src.data.corpora.common import Collected, CorpusError, Item, Skip, collapse, strip_punctuation

SPLITS = ("train", "dev", "test")
NORMALISATION_EN = "Common Voice as icefall's preprocess_commonvoice.py (en), apostrophes kept, lower-cased"
NORMALISATION_OTHER = "Common Voice: NFC, hyphen to space, punctuation removed (apostrophe kept), lower-cased"


def normalize(text: str, language: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"-+", " ", text).replace("\u2019", "'")
    if language == "en":
        text = re.sub(r"[^a-zA-Z'\s]", "", text)
    else:
        text = strip_punctuation(text)
    return collapse(text).lower()


def collect(src: Path, language: str = "en") -> Collected:
    """``src`` is the language folder (e.g. ``cv-corpus-17.0/en``) holding ``clips/`` and the TSVs."""
    src = src.resolve()  # manifests hold absolute paths: they work from any folder
    if not (src / "clips").is_dir():
        raise CorpusError(f"{src}: no clips/ folder; give the language folder of the extracted Common Voice release (e.g. cv-corpus-17.0/en)")
    found = [s for s in SPLITS if (src / f"{s}.tsv").is_file()]
    if not found:
        raise CorpusError(f"{src}: none of {', '.join(s + '.tsv' for s in SPLITS)}")
    out = Collected(normalisation=NORMALISATION_EN if language == "en" else NORMALISATION_OTHER)
    for split in found:
        items = []
        with (src / f"{split}.tsv").open(encoding="utf-8", newline="") as f:
            # Sentences may hold quotes: QUOTE_NONE reads each tab-separated field verbatim.
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            if not reader.fieldnames or not {"path", "sentence"} <= set(reader.fieldnames):
                raise CorpusError(f"{src / f'{split}.tsv'}: expected a header with 'path' and 'sentence' columns, got {reader.fieldnames}")
            for row_no, row in enumerate(reader, start=2):
                where = f"{src / f'{split}.tsv'}:{row_no}"
                clip = src / "clips" / (row["path"] or "")
                text = normalize(row["sentence"] or "", language)
                if not row["path"] or not clip.is_file():
                    out.skipped.append(Skip(where, f"no audio: clips/{row['path']} is missing"))
                elif not text:
                    out.skipped.append(Skip(where, f"empty text after normalisation: {row['sentence']!r}"))
                else:
                    items.append(Item(clip, text, clip.stem))
        if items:
            out.splits[split] = items
    return out
