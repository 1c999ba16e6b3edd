"""Train a segmentation model: ``python scripts/train.py --config configs/unet_baseline.yaml``.

Resume an interrupted run (same run folder, exact continuation)::

    python scripts/train.py --resume runs/<name>/checkpoints/latest.pt

Several processes (DDP; nccl on GPUs, gloo on the CPU; see docs/DISTRIBUTED.md)::

    torchrun --standalone --nproc_per_node 4 scripts/train.py --config configs/unet_transformer.yaml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for `import src`

from src.training.runner import run_training  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML file of overrides of the defaults in src/utils/config.py")
    parser.add_argument("--run-name", help="run folder name under --runs-dir (default: <time>_<config stem>)")
    parser.add_argument("--runs-dir", default="runs", help="where run folders are created")
    parser.add_argument("--override", nargs="*", default=[], metavar="SECTION.KEY=VALUE",
                        help="e.g. training.batch_size=32 model.name=unet_transformer")
    parser.add_argument("--resume", metavar="CKPT", help="continue from this checkpoint (its run folder and config)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="shortcut for training.device=...")
    args = parser.parse_args(argv)
    return run_training(config=args.config, run_name=args.run_name, runs_dir=args.runs_dir,
                        overrides=args.override, resume=args.resume, device=args.device)


if __name__ == "__main__":
    raise SystemExit(main())
