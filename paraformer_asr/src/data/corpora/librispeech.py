"""LibriSpeech (OpenSLR 12): ``SUBSET/SPK/CHAPTER/SPK-CHAPTER-NNNN.flac`` with ``SPK-CHAPTER.trans.txt``.

Each ``*.trans.txt`` line is ``SPK-CHAPTER-NNNN TRANSCRIPT`` in upper case with
apostrophes (no other punctuation). Normalisation: as Kaldi's ``egs/librispeech``
and ESPnet's ``librispeech_100`` data preparation, the transcript is taken as it is;
we only lower-case it, because our tokenizers work in lower case (the manifest
reader lower-cases anyway). One manifest per subset found: ``train-clean-100.jsonl``,
``dev-clean.jsonl``, ``test-clean.jsonl``, ``dev-other.jsonl``, ...
"""

from __future__ import annotations

from pathlib import Path

from src.data.corpora.common import Collected, CorpusError, Item, Skip, collapse

SUBSETS = ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "dev-other", "test-clean", "test-other")
NORMALISATION = "LibriSpeech as in Kaldi/ESPnet (transcripts unchanged), lower-cased for our tokenizers"


def collect(src: Path) -> Collected:
    """``src`` is the ``LibriSpeech`` folder (holding the subsets) or one subset folder."""
    src = src.resolve()  # manifests hold absolute paths: they work from any folder
    src = src / "LibriSpeech" if (src / "LibriSpeech").is_dir() else src
    subsets = [src / s for s in SUBSETS if (src / s).is_dir()]
    if not subsets and src.name in SUBSETS:
        subsets = [src]
    if not subsets:
        raise CorpusError(
            f"{src}: no LibriSpeech subset folder ({', '.join(SUBSETS)}); give the extracted 'LibriSpeech' folder, "
            "e.g. tar xzf train-clean-100.tar.gz gives LibriSpeech/train-clean-100/SPK/CHAPTER/*.flac"
        )
    out = Collected(normalisation=NORMALISATION)
    for subset in subsets:
        items: list[Item] = []
        for trans in sorted(subset.glob("*/*/*.trans.txt")):
            flacs = {p.stem for p in trans.parent.glob("*.flac")}
            listed = set()
            for line_no, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                utt, _, text = line.partition(" ")
                listed.add(utt)
                text = collapse(text).lower()
                if not text:
                    out.skipped.append(Skip(f"{trans}:{line_no}", "empty transcript"))
                elif utt not in flacs:
                    out.skipped.append(Skip(f"{trans}:{line_no}", f"no audio: {utt}.flac is missing"))
                else:
                    items.append(Item(trans.parent / f"{utt}.flac", text, utt))
            out.skipped += [Skip(str(trans.parent / f"{u}.flac"), "no transcript line") for u in sorted(flacs - listed)]
        if not items:
            raise CorpusError(f"{subset}: no SPK/CHAPTER/SPK-CHAPTER.trans.txt with .flac files under it")
        out.splits[subset.name] = items
    return out
