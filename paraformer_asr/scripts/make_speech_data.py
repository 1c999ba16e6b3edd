"""Build a synthetic-speech corpus with espeak-ng: 16 kHz WAVs plus NeMo-style manifests.

    python scripts/make_speech_data.py --out data/speech --n 3000 --seed 0 [--noise] [--silence]

Writes ``<out>/wavs/{train,dev,test}/*.wav``, ``<out>/{train,dev,test}.jsonl`` and
``<out>/corpus.json``. Dev and test use espeak-ng variants never used in training and
sentences that do not occur in training. See src/data/speech_corpus.py.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tqdm import tqdm  # noqa: E402

from src.data.speech_corpus import (  # noqa: E402
    EspeakMissingError,
    espeak_path,
    make_one,
    missing_variants,
    plan_corpus,
    write_manifests,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder, e.g. data/speech")
    parser.add_argument("--n", type=int, default=3000, help="number of utterances (80/10/10 train/dev/test)")
    parser.add_argument("--seed", type=int, default=0, help="the corpus is a function of the seed")
    parser.add_argument("--noise", action="store_true", help="add white noise at a random 15-35 dB SNR")
    parser.add_argument("--silence", action="store_true", help="pad 0.05-0.5 s of silence before and after")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="parallel processes")
    args = parser.parse_args()

    try:
        espeak = espeak_path()
        plan = plan_corpus(args.n, args.seed, noise=args.noise, silence=args.silence)
    except EspeakMissingError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    except ValueError as e:
        parser.error(str(e))

    missing = missing_variants(espeak)
    if missing:
        print(
            f"warning: this espeak-ng lacks the voice variant(s) {', '.join(missing)}; it will speak those utterances "
            "with the plain base voice, so the corpus differs from the documented one (espeak-ng >= 1.50 has them all)",
            file=sys.stderr,
        )
    out = Path(args.out)
    for split in ("train", "dev", "test"):
        (out / "wavs" / split).mkdir(parents=True, exist_ok=True)
    jobs = [(utt, args.seed, str(out), espeak) for utt in plan]
    bar = dict(total=len(jobs), desc="synthesising", unit="utt")
    if args.workers > 1:
        with mp.get_context("spawn").Pool(args.workers) as pool:
            lines = list(tqdm(pool.imap(make_one, jobs, chunksize=8), **bar))
    else:
        lines = [make_one(job) for job in tqdm(jobs, **bar)]
    write_manifests(out, plan, lines, {"n": args.n, "seed": args.seed, "noise": args.noise, "silence": args.silence})
    hours = sum(float(line["duration"]) for line in lines) / 3600
    print(f"wrote {len(lines)} utterances ({hours:.2f} h) and train/dev/test.jsonl to {out}")


if __name__ == "__main__":
    main()
