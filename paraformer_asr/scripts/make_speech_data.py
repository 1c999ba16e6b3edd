"""Build a synthetic-speech corpus: 16 kHz WAVs plus NeMo-style manifests.

    python scripts/make_speech_data.py --out data/speech --n 3000 --seed 0 [--noise] [--silence]
        [--engines espeak-ng,flite,festival] [--words 3 20] [--text fortunes|wordlist] [--n-train N]

Writes ``<out>/wavs/<split>/*.wav``, ``<out>/<split>.jsonl`` and ``<out>/corpus.json``
for the splits train, dev, test (80/10/10 of --n; --n-train sets train alone) and, when festival is among the
engines, test_unseen_engine (as large as test), spoken by an engine never used in
training. Sentences are natural English from Debian's ``fortunes`` package; dev and
test use voices and sentences never used in training. Every manifest line records
the engine, voice and conditions. See src/data/tts/ and docs/AUDIO.md section 9.

``--text wordlist`` builds the previous corpus (espeak-ng only, 2-4 words from a
267-word list; src/data/speech_corpus.py) on which the older results were measured.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from src.data import speech_corpus  # noqa: E402
from src.data.tts import ENGINES, EngineMissingError, find_engines  # noqa: E402
from src.data.tts.build import VoiceMissingError, build, check_voices, run_jobs  # noqa: E402
from src.data.tts.plan import PEAK_DBFS, PITCH, RATE_WPM, SNR_DB, SPEED, VOICES, plan_corpus  # noqa: E402
from src.data.tts.sentences import (  # noqa: E402
    WORDS_PER_SENTENCE,
    SentenceSourceMissingError,
    load_sentences,
    sentence_pools,
    source_fingerprint,
)


def build_wordlist(args: argparse.Namespace) -> None:
    """The previous espeak-ng corpus, byte for byte (src/data/speech_corpus.py)."""
    espeak = speech_corpus.espeak_path()
    plan = speech_corpus.plan_corpus(args.n, args.seed, noise=args.noise, silence=args.silence)
    missing = speech_corpus.missing_variants(espeak)
    if missing:
        print(f"warning: this espeak-ng lacks the voice variant(s) {', '.join(missing)}; it will speak those "
              "utterances with the plain base voice (espeak-ng >= 1.50 has them all)", file=sys.stderr)  # fmt: skip
    out = Path(args.out)
    for split in ("train", "dev", "test"):
        (out / "wavs" / split).mkdir(parents=True, exist_ok=True)
    lines = run_jobs([(utt, args.seed, str(out), espeak) for utt in plan], speech_corpus.make_one, args.workers)
    meta = {"text": "wordlist", "n": args.n, "seed": args.seed, "noise": args.noise, "silence": args.silence}
    speech_corpus.write_manifests(out, plan, lines, meta)
    report(lines, out, ["train", "dev", "test"])


def report(lines: list[dict], out: Path, splits: list[str]) -> None:
    hours = sum(float(line["duration"]) for line in lines) / 3600
    print(f"wrote {len(lines)} utterances ({hours:.2f} h) and {', '.join(f'{s}.jsonl' for s in splits)} to {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder, e.g. data/speech")
    parser.add_argument("--n", type=int, default=3000, help="train+dev+test utterances (80/10/10)")
    parser.add_argument("--n-train", type=int, default=None, metavar="N",
                        help="training utterances instead of 80%% of --n; dev and test keep 10%% of --n each")
    parser.add_argument("--seed", type=int, default=0, help="the corpus is a function of the seed")
    parser.add_argument("--noise", action="store_true", help=f"add white noise at a random {SNR_DB[0]:g}-{SNR_DB[1]:g} dB SNR")
    parser.add_argument("--silence", action="store_true", help="pad 0.05-0.5 s of digital silence before and after")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated TTS engines (festival = test_unseen_engine)")
    parser.add_argument("--words", type=int, nargs=2, default=WORDS_PER_SENTENCE, metavar=("MIN", "MAX"), help="words per sentence")
    parser.add_argument("--text", choices=("fortunes", "wordlist"), default="fortunes", help="sentence source (wordlist = the old corpus)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="parallel processes")
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        parser.error(f"unknown engine(s) {', '.join(unknown)} in --engines; choose from {', '.join(ENGINES)}")
    lo, hi = args.words
    if not WORDS_PER_SENTENCE[0] <= lo <= hi <= WORDS_PER_SENTENCE[1]:
        parser.error(f"--words {lo} {hi}: need {WORDS_PER_SENTENCE[0]} <= MIN <= MAX <= {WORDS_PER_SENTENCE[1]}")

    try:
        if args.text == "wordlist":
            if args.n_train is not None:
                parser.error("--n-train works with --text fortunes only")
            try:
                speech_corpus.split_sizes(args.n)
            except ValueError as e:
                parser.error(str(e))
            return build_wordlist(args)
        exes = find_engines(engines)
        pools = sentence_pools(load_sentences())
        plan = plan_corpus(
            args.n, args.seed, engines=engines, pools=pools, noise=args.noise, silence=args.silence, words=(lo, hi),
            n_train=args.n_train,
        )
        for warning in check_voices(plan, exes):
            print(f"warning: {warning}", file=sys.stderr)
    except (EngineMissingError, speech_corpus.EspeakMissingError, SentenceSourceMissingError, VoiceMissingError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    except ValueError as e:
        parser.error(str(e))

    if "festival" not in engines:
        print("note: festival is not among --engines, so the test_unseen_engine split is not built", file=sys.stderr)
    meta = {
        "text": "fortunes", "n": args.n, "n_train": args.n_train, "seed": args.seed, "noise": args.noise, "silence": args.silence,
        "engines": engines, "words": [lo, hi], "voices": VOICES, "rate_wpm": RATE_WPM, "pitch": PITCH,
        "speed": SPEED, "snr_db": SNR_DB, "peak_dbfs": PEAK_DBFS, "sentences": source_fingerprint(load_sentences()),
    }  # fmt: skip
    out = Path(args.out)
    lines = build(plan, out=out, seed=args.seed, exes=exes, workers=args.workers, meta=meta)
    report(lines, out, list(dict.fromkeys(u.split for u in plan)))


if __name__ == "__main__":
    main()
