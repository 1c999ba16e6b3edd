"""Build the out-of-domain synthetic test set of issue #13 (espeak-ng voices never used in the corpus).

    python scripts/make_ood_speech.py --out data/speech_ood --n 500 --seed 0

Writes ``<out>/wavs/ood/*.wav``, ``<out>/ood.jsonl`` and ``<out>/corpus.json``:
unseen espeak-ng accents x variants, 130-200 words per minute, pitch 30-70,
0-0.5 s of leading/trailing digital silence, white noise at 20-40 dB SNR on 60 %
of the utterances, peaks from -12 to -1 dBFS, and sentences no corpus split uses.
Each manifest line has ``engine``, ``voice``, ``snr_db`` (null = clean),
``lead_silence_s``, ``trail_silence_s`` and ``peak_dbfs`` for ``eval.py --group-by``.
See src/data/tts/ood.py.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from src.data.tts import EngineMissingError, find_engines  # noqa: E402
from src.data.tts import ood  # noqa: E402
from src.data.tts.build import build, check_voices  # noqa: E402
from src.data.tts.sentences import (  # noqa: E402
    WORDS_PER_SENTENCE,
    SentenceSourceMissingError,
    load_sentences,
    sentence_pools,
    source_fingerprint,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder, e.g. data/speech_ood")
    parser.add_argument("--n", type=int, default=500, help="number of utterances")
    parser.add_argument("--seed", type=int, default=0, help="the set is a function of the seed")
    parser.add_argument("--words", type=int, nargs=2, default=WORDS_PER_SENTENCE, metavar=("MIN", "MAX"), help="words per sentence")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="parallel processes")
    args = parser.parse_args()
    try:
        exes = find_engines(["espeak-ng"])
        plan = ood.plan_ood(args.n, args.seed, pool=sentence_pools(load_sentences())[ood.SPLIT], words=tuple(args.words))
        for warning in check_voices(plan, exes):
            print(f"warning: {warning}", file=sys.stderr)
    except (EngineMissingError, SentenceSourceMissingError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    except ValueError as e:
        parser.error(str(e))
    meta = {
        "set": "ood", "n": args.n, "seed": args.seed, "words": args.words, "voices": ood.ood_voices(),
        "rate_wpm": ood.RATE_WPM, "pitch": ood.PITCH, "silence_s": ood.SILENCE_S, "noisy_share": ood.NOISY_SHARE,
        "snr_db": ood.SNR_DB, "peak_dbfs": ood.PEAK_DBFS, "sentences": source_fingerprint(load_sentences()),
    }  # fmt: skip
    out = Path(args.out)
    lines = build(plan, out=out, seed=args.seed, exes=exes, workers=args.workers, meta=meta)
    hours = sum(float(line["duration"]) for line in lines) / 3600
    noisy = sum(line["snr_db"] is not None for line in lines)
    print(f"wrote {len(lines)} utterances ({hours:.2f} h, {noisy} noisy) and ood.jsonl to {out}")


if __name__ == "__main__":
    main()
