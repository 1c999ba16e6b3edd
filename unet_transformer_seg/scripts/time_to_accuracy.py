"""Wall time to val mean Dice >= 0.95 on the toy task: fp32 NCHW (before) against the defaults, back to back.

    python scripts/time_to_accuracy.py                       # unet_baseline.yaml, fp32_nchw then auto
    python scripts/time_to_accuracy.py --repeats 2 --out tta.json
    python scripts/time_to_accuracy.py --variant compiled training.compile=true   # add a variant

Each variant is a fresh ``train.py`` process stopped (SIGINT, checkpoint saved) once the
target is reached. Defaults live in TimeToAccuracyConfig (src/bench/time_to_accuracy.py).
Run it on an otherwise idle machine: every number is wall-clock time.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for `import src`

from src.bench.ablation import machine_info  # noqa: E402
from src.bench.time_to_accuracy import (TimeToAccuracyConfig, markdown_table, run_time_to_accuracy,  # noqa: E402
                                        verdict)


def main(argv: list[str] | None = None) -> int:
    d = TimeToAccuracyConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=d.config)
    parser.add_argument("--target-dice", type=float, default=d.target_dice)
    parser.add_argument("--repeats", type=int, default=d.repeats)
    parser.add_argument("--runs-dir", default=d.runs_dir)
    parser.add_argument("--override", nargs="*", default=[], metavar="SECTION.KEY=VALUE", help="for every variant")
    parser.add_argument("--variant", nargs="+", action="append", default=[], metavar=("NAME", "OVERRIDE"),
                        help="add a variant: a name, then its overrides (repeatable)")
    parser.add_argument("--only-added", action="store_true", help="run only the --variant ones, not the defaults")
    parser.add_argument("--no-stop", action="store_true", help="train every variant to the end of its schedule")
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args(argv)
    variants = {} if args.only_added else dict(d.variants)
    variants.update({v[0]: v[1:] for v in args.variant})
    tta = TimeToAccuracyConfig(config=args.config, variants=variants, target_dice=args.target_dice,
                               repeats=args.repeats, runs_dir=args.runs_dir, overrides=args.override,
                               stop_at_target=not args.no_stop)
    info = machine_info()
    rows = run_time_to_accuracy(tta)
    command = "python scripts/time_to_accuracy.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    print(f"\nCommand: `{command.strip()}`\nMachine: {info} (at the start)\n")
    print(markdown_table(rows, tta.target_dice))
    print("\n" + verdict(rows))
    if args.out:
        Path(args.out).write_text(json.dumps({"command": command.strip(), "machine": info, "rows": rows}, indent=2))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
