"""Average the weights of several checkpoints of one run into one checkpoint for eval/infer/serve.

    python scripts/average_checkpoints.py --checkpoints runs/r/checkpoints/epoch_16.pt \
        runs/r/checkpoints/epoch_17.pt runs/r/checkpoints/epoch_18.pt --out runs/r/checkpoints/avg3.pt

See src/training/averaging.py for why, and what must match.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python scripts/average_checkpoints.py` from the project folder

from src.training.averaging import write_average  # noqa: E402
from src.utils.checkpoint import CheckpointError  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", nargs="+", required=True, type=Path, help="checkpoints of one run (the last one's config is kept)")
    parser.add_argument("--out", required=True, type=Path, help="where to write the averaged checkpoint")
    args = parser.parse_args()
    if args.out.resolve() in {p.resolve() for p in args.checkpoints}:
        parser.error(f"--out {args.out} is one of the inputs; write the average to a new file")
    try:
        state = write_average(args.checkpoints, args.out)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    steps = ", ".join(str(a["step"]) for a in state["averaged_from"])
    print(f"wrote {args.out}: the mean of {len(args.checkpoints)} checkpoints (steps {steps})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
