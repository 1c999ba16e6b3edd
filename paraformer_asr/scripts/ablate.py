"""Train every ablation variant and print the table of docs/ABLATIONS.md (CPU; run on a quiet machine)."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python scripts/ablate.py` from the project folder

import torch  # noqa: E402

from src.bench.ablation import VARIANTS, format_table, run_variant  # noqa: E402
from src.utils.config import ConfigError  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs-dir", default="runs/ablations")
    parser.add_argument("--only", nargs="*", help=f"variant names, from: {[v.name for v in VARIANTS]}")
    parser.add_argument("--override", nargs="*", default=[], help="applied to every variant, e.g. training.max_steps=20")
    parser.add_argument("--beam-size", type=int, default=4)
    parser.add_argument("--timing-utterances", type=int, default=100, help="utterances timed at batch size 1")
    parser.add_argument("--output", default="", help="also write rows + machine info as JSON")
    args = parser.parse_args()

    variants = [v for v in VARIANTS if not args.only or v.name in args.only]
    if not variants:
        parser.error(f"--only matched nothing; names: {[v.name for v in VARIANTS]}")
    rows = []
    for v in variants:
        print(f"=== {v.name}: {v.config} {' '.join(v.overrides + args.override)}", flush=True)
        try:
            rows.append(run_variant(v, args.runs_dir, extra_overrides=args.override, beam_size=args.beam_size,
                                    timing_utterances=args.timing_utterances))
        except ConfigError as e:
            print(f"config error: {e}", file=sys.stderr)
            return 2
        print(format_table(rows[-1:]).splitlines()[-1], flush=True)
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\n{format_table(rows)}\n\nmachine: {machine}; date: {date}")
    if args.output:
        Path(args.output).write_text(json.dumps({"machine": machine, "date": date, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
