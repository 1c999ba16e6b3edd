"""CTC loss forward + backward time: ours (src/losses/ctc.py) against the F.ctc_loss fast path.

    python scripts/bench_ctc_loss.py --threads 1
    python scripts/bench_ctc_loss.py --threads 1 --shapes 32x250x60 --impls ours   # one shape, ours only
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python scripts/bench_ctc_loss.py` from the project folder

import torch  # noqa: E402

from src.bench.bench_utils import machine_info, machine_line  # noqa: E402
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
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads; 0 = torch's default")
    parser.add_argument("--out", type=Path, help="also write the rows and the machine as JSON")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = machine_info(torch.device("cpu"))
    rows = bench_ctc_loss(tuple(args.shapes), vocab=args.vocab, impls=tuple(args.impls),
                          warmup=args.warmup, repeats=args.repeats)
    print(machine_line(machine))
    print(markdown(rows))
    if args.out:
        args.out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
