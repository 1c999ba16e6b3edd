"""Corpus in its native layout -> NeMo-style JSONL manifests (audio_filepath, duration, text).

    python scripts/prepare_data.py --corpus librispeech --src /data/LibriSpeech --out data/librispeech
    python scripts/prepare_data.py --corpus aishell --src /data/data_aishell --out data/aishell
    python scripts/prepare_data.py --corpus commonvoice --src /data/cv-corpus-17.0/en --out data/cv_en
    python scripts/prepare_data.py --corpus folder --src my_recordings --out data/mine

Writes one <split>.jsonl per split (LibriSpeech: per subset, e.g. train-clean-100.jsonl),
skipped.tsv (every item left out, with the reason) and summary.json. The audio stays
where it is; manifests point at it with absolute paths. Layouts and text
normalisation per corpus: src/data/corpora/*.py and the README's "Public corpora".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python scripts/prepare_data.py` from the project folder

from src.data.corpora import CORPORA  # noqa: E402
from src.data.corpora.common import CorpusError, write_manifests  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, choices=sorted(CORPORA))
    parser.add_argument("--src", required=True, type=Path, help="the corpus folder as extracted")
    parser.add_argument("--out", required=True, type=Path, help="where the manifests go, e.g. data/librispeech")
    parser.add_argument("--language", default="en", help="commonvoice: the release's language code (normalisation rule)")
    parser.add_argument("--dev-fraction", type=float, default=0.05, help="folder: share of utterances for dev")
    parser.add_argument("--test-fraction", type=float, default=0.05, help="folder: share of utterances for test")
    parser.add_argument("--min-seconds", type=float, default=0.1, help="skip shorter audio")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="threads measuring durations (MP3 is decoded by ffmpeg to count samples)")
    args = parser.parse_args()

    if not args.src.exists():
        print(f"error: --src {args.src} does not exist", file=sys.stderr)
        return 2
    module = CORPORA[args.corpus]
    kwargs = {"language": args.language} if args.corpus == "commonvoice" else {}
    if args.corpus == "folder":
        kwargs = {"dev_fraction": args.dev_fraction, "test_fraction": args.test_fraction}
    try:
        collected = module.collect(args.src, **kwargs)
        summary = write_manifests(collected, args.out, min_seconds=args.min_seconds, workers=args.workers)
    except CorpusError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"text normalisation: {summary['normalisation']}")
    for split, s in summary["splits"].items():
        print(f"  {split}: {s['utterances']} utterances, {s['hours']:.3f} h -> {s['manifest']}")
    skipped = summary["skipped"]
    if skipped["total"]:
        reasons = ", ".join(f"{r} x{n}" for r, n in skipped["by_reason"].items())
        print(f"skipped {skipped['total']} item(s) ({reasons}); each with its reason in {skipped['list']}")
        for line in (args.out / "skipped.tsv").read_text(encoding="utf-8").splitlines()[:5]:
            print(f"    {line}")
    else:
        print("skipped nothing")
    print(json.dumps({"summary": str(args.out / "summary.json")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
