"""Baseline vs hybrid on the toy task, timed: the numbers for docs/ABLATIONS.md.

    python scripts/ablate.py                      # both default configs, runs/ablate_*
    python scripts/ablate.py --override training.num_epochs=2   # a quick dry run

Run it on an otherwise idle machine: train time is wall-clock time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for `import src`

from src.bench.ablation import machine_info, markdown_table, run_ablation, verdicts  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["configs/unet_baseline.yaml", "configs/unet_transformer.yaml"])
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--override", nargs="*", default=[], metavar="SECTION.KEY=VALUE", help="applied to every config")
    args = parser.parse_args(argv)
    info = machine_info()
    rows = run_ablation(args.configs, runs_dir=args.runs_dir, overrides=args.override)
    print("\n## Results\n")
    print(f"Command: python scripts/ablate.py {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    print(f"Machine: {info}\n")
    print(markdown_table(rows))
    print("\ntrain time = wall-clock seconds of the whole run; scores at the best epoch (= best.pt)\n")
    print(verdicts(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
