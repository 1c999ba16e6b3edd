"""AISHELL-1 (OpenSLR 33): ``wav/{train,dev,test}/SPK/BAC009SxxxxWxxxx.wav`` with ``transcript/aishell_transcript_v0.8.txt``.

Transcript lines are ``UTTID 而 对 楼市 成交 ...``: word-segmented Mandarin. As in
WeNet's ``examples/aishell`` (after Kaldi's ``local/aishell_data_prep.sh``), the
spaces are removed, so the text is a plain character sequence and CER counts
characters. Wavs without a transcript line (Kaldi drops them too) and transcript
lines without a wav are reported as skipped.
"""

from __future__ import annotations

from pathlib import Path

from src.data.corpora.common import Collected, CorpusError, Item, Skip

SPLITS = ("train", "dev", "test")
TRANSCRIPT = Path("transcript") / "aishell_transcript_v0.8.txt"
NORMALISATION = "AISHELL-1 as in WeNet's aishell recipe: word-segmentation spaces removed"


def collect(src: Path) -> Collected:
    """``src`` is ``data_aishell`` (holding ``wav/`` and ``transcript/``) or its parent."""
    src = src.resolve()  # manifests hold absolute paths: they work from any folder
    src = src / "data_aishell" if (src / "data_aishell").is_dir() else src
    if not (src / TRANSCRIPT).is_file():
        raise CorpusError(f"{src}: no {TRANSCRIPT}; give the extracted data_aishell folder")
    wav_root = src / "wav"
    if not any((wav_root / s).is_dir() for s in SPLITS):
        if list(wav_root.glob("*.tar.gz")):
            raise CorpusError(
                f"{wav_root}: the per-speaker archives are not extracted yet; run "
                f"`cd {wav_root} && for f in *.tar.gz; do tar xzf \"$f\"; done`"
            )
        raise CorpusError(f"{wav_root}: expected wav/train, wav/dev and wav/test with SPK/*.wav inside")
    transcripts: dict[str, str] = {}
    out = Collected(normalisation=NORMALISATION)
    for line_no, line in enumerate((src / TRANSCRIPT).read_text(encoding="utf-8").splitlines(), start=1):
        utt, _, text = line.strip().partition(" ")
        if utt:
            transcripts[utt] = "".join(text.split())
    seen = set()
    for split in SPLITS:
        items = []
        for wav in sorted((wav_root / split).glob("*/*.wav")):
            seen.add(wav.stem)
            text = transcripts.get(wav.stem)
            if text is None:
                out.skipped.append(Skip(str(wav), "no transcript line"))
            elif not text:
                out.skipped.append(Skip(str(wav), "empty transcript"))
            else:
                items.append(Item(wav, text, wav.stem))
        if items:
            out.splits[split] = items
    if "train" not in out.splits:
        raise CorpusError(f"{wav_root / 'train'}: no SPK/*.wav with a transcript line")
    # Lines of the transcript file with no wav in any split (the file covers all of them).
    out.skipped += [Skip(u, "transcript line without a wav") for u in sorted(set(transcripts) - seen)]
    return out
