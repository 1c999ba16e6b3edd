"""Seconds per training step for each model thread count and OpenMP wait policy (src/bench/threads.py).

    python scripts/bench_threads.py --config configs/ctc_speech_robust.yaml
    python scripts/bench_threads.py --config configs/ctc_speech_robust.yaml --settings 1:passive 2:active 2:passive \
        --rounds 2 --steps 70 --override augment.clean_epochs=0

Each setting trains in a fresh process (OpenMP reads its wait policy once, when torch loads);
the settings run interleaved, --rounds times. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python scripts/bench_threads.py` from the project folder

from src.bench.threads import Setting, bench_threads, markdown  # noqa: E402


def parse_setting(text: str) -> Setting:
    try:
        return Setting.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="the training config to time, e.g. configs/ctc_speech_robust.yaml")
    parser.add_argument("--settings", nargs="+", type=parse_setting,
                        default=[Setting(1, "passive"), Setting(2, "active"), Setting(2, "passive")],
                        help="THREADS:POLICY, POLICY active or passive (default: 1:passive 2:active 2:passive)")
    parser.add_argument("--steps", type=int, default=70, help="training steps per setting (default: %(default)s)")
    parser.add_argument("--skip", type=int, default=10, help="steps not timed at the start (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the settings (default: %(default)s)")
    parser.add_argument("--override", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides for every setting")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    try:
        rows = bench_threads(args.config, args.settings, steps=args.steps, skip=args.skip, rounds=args.rounds,
                             overrides=args.override, progress=lambda line: print(line, file=sys.stderr))
    except (ValueError, RuntimeError) as e:
        print(f"bench_threads: {e}", file=sys.stderr)
        return 2
    print(markdown(rows, args.steps, args.skip))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
