"""torch.profiler table of a training step in fp32 and in bf16 (where the time goes; docs/BENCHMARKS.md).

    python scripts/profile_step.py --config configs/paraformer_base.yaml --threads 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python scripts/profile_step.py` from the project folder

import torch  # noqa: E402

from src.bench.profile_step import profile_training_step  # noqa: E402
from src.utils.config import load_config_or_exit  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/paraformer_base.yaml")
    parser.add_argument("--override", nargs="*", default=[])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rows", type=int, default=15)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads; 0 = torch's default")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config_or_exit(args.config, args.override)
    for precision in args.precisions:
        print(f"\n## {args.config} {precision}: {args.steps} steps of batch {args.batch_size}\n")
        print(profile_training_step(cfg, precision, batch_size=args.batch_size, steps=args.steps, row_limit=args.rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
