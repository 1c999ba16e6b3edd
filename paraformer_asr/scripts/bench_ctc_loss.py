"""CTC loss forward + backward time: ours (src/losses/ctc.py) against the F.ctc_loss fast path.

    python scripts/bench_ctc_loss.py --threads 1
    python scripts/bench_ctc_loss.py --threads 1 --shapes 32x250x60 --impls ours   # one shape, ours only
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python scripts/bench_ctc_loss.py` from the project folder

from src.bench.bench_utils import add_micro_bench_arguments, run_micro_bench  # noqa: E402
from src.bench.ctc_loss import DEFAULT_SHAPES, bench_ctc_loss, markdown  # noqa: E402


def parse_shape(text: str) -> tuple[int, int, int]:
    try:
        batch, frames, labels = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shapes {text!r}: write BxTxL, e.g. 32x250x60") from None
    if min(batch, frames, labels) < 1:
        raise argparse.ArgumentTypeError(f"--shapes {text!r}: B, T and L must be >= 1")
    return batch, frames, labels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", type=parse_shape, default=list(DEFAULT_SHAPES),
                        help="BxTxL: batch, frames after subsampling, labels (default: %(default)s)")
    parser.add_argument("--vocab", type=int, default=30)
    parser.add_argument("--impls", nargs="+", default=["ours", "torch"], choices=["ours", "torch"])
    add_micro_bench_arguments(parser)
    args = parser.parse_args()
    return run_micro_bench(args, lambda: bench_ctc_loss(tuple(args.shapes), vocab=args.vocab, impls=tuple(args.impls),
                                                        warmup=args.warmup, repeats=args.repeats), markdown)


if __name__ == "__main__":
    raise SystemExit(main())
