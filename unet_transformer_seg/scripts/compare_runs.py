"""Compare training runs: ``python scripts/compare_runs.py [--runs-dir runs]``.

Prints a markdown table (one row per run, scores at its best epoch) and writes a PNG
overlaying the runs' validation curves.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for `import src`

from src.training.compare import load_runs, markdown_table, plot_runs, summarize  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs-dir", default="runs", help="folder holding the run folders")
    parser.add_argument("--runs", nargs="*", help="only these run names (default: all)")
    parser.add_argument("--plot", help="PNG path (default: <runs-dir>/compare.png)")
    args = parser.parse_args(argv)
    runs = [r for r in load_runs(args.runs_dir) if not args.runs or r["name"] in args.runs]
    if not runs:
        print(f"error: no runs with a metrics.json in {args.runs_dir}", file=sys.stderr)
        return 1
    print(markdown_table([summarize(r) for r in runs]))
    plot = plot_runs(runs, args.plot or Path(args.runs_dir) / "compare.png")
    print(f"\nwrote {plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
