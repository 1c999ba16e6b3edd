"""Conv front end forward + backward time: ours against the previous stage 1 and the plain Conv2d stack.

    python scripts/bench_front_end.py --threads 1
    python scripts/bench_front_end.py --threads 1 --shapes 32x336x80x48 --impls ours conv2d
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python scripts/bench_front_end.py` from the project folder

from src.bench.bench_utils import add_micro_bench_arguments, run_micro_bench  # noqa: E402
from src.bench.front_end import DEFAULT_SHAPES, IMPLS, bench_front_end, markdown  # noqa: E402


def parse_shape(text: str) -> tuple[int, int, int, int]:
    try:
        batch, frames, bins, channels = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shapes {text!r}: write BxTxFxC, e.g. 32x336x80x48") from None
    if min(batch, channels) < 1 or min(frames, bins) < 7:
        raise argparse.ArgumentTypeError(f"--shapes {text!r}: B and C must be >= 1, T and F >= 7 (x4 subsampling)")
    return batch, frames, bins, channels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", type=parse_shape, default=list(DEFAULT_SHAPES),
                        help="BxTxFxC: batch, frames, mel bins, conv channels (default: %(default)s)")
    parser.add_argument("--impls", nargs="+", default=list(IMPLS), choices=list(IMPLS))
    add_micro_bench_arguments(parser)
    args = parser.parse_args()
    impls = tuple(dict.fromkeys(args.impls))
    return run_micro_bench(args, lambda: bench_front_end(tuple(args.shapes), impls=impls, warmup=args.warmup, repeats=args.repeats),
                           lambda rows: markdown(rows, impls))


if __name__ == "__main__":
    raise SystemExit(main())
