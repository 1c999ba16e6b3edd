"""Train a model on the built-in toy task (or manifests): python scripts/train.py --config configs/paraformer_base.yaml

Several processes (DDP; training.batch_size is per process):
    torchrun --nproc_per_node 2 scripts/train.py --config configs/paraformer_base.yaml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python scripts/train.py` from the project folder

# These three import no torch: the config is read before torch loads (see main()).
from src.utils import openmp  # noqa: E402
from src.utils.config import ConfigError, ExperimentConfig, apply_overrides, config_from_dict, load_config, load_config_or_exit  # noqa: E402
from src.utils.logging import make_run_dir, resolve_run_path  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", help="YAML with overrides of the defaults in src/utils/config.py")
    parser.add_argument("--run-name", help="folder name under --runs-dir (default: <timestamp>_<config stem>)")
    parser.add_argument("--override", nargs="*", default=[], metavar="KEY=VALUE", help="e.g. training.batch_size=32")
    parser.add_argument("--resume", help="checkpoint to resume from (its config is used unless --config is given)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="shortcut for --override training.device=...")
    parser.add_argument("--runs-dir", default="runs", help="where run folders are created")
    args = parser.parse_args()

    overrides = list(args.override) + ([f"training.device={args.device}"] if args.device else [])
    if not (args.config or args.resume):
        parser.error("--config is required (or --resume CHECKPOINT)")
    # OpenMP fixes its wait policy when torch loads, so the config is read first: with data
    # workers, idle model threads sleep and the model can use every core (src/utils/openmp.py).
    cfg = load_config_or_exit(args.config, overrides) if args.config else None
    openmp.prefer_passive_waits(cfg.data.num_workers if cfg else run_folder_num_workers(args.resume, overrides))
    # Everything below imports torch.
    from src.training import distributed
    from src.utils.checkpoint import CheckpointError, load_checkpoint

    if cfg is None:
        # Resume with the checkpoint's own config so a run cannot silently change shape.
        try:
            stored = load_checkpoint(resolve_run_path(args.resume))["config"]
        except (CheckpointError, KeyError) as e:
            print(f"cannot resume: {e}", file=sys.stderr)
            return 2
        try:
            cfg = config_from_dict(apply_overrides(stored, overrides))
        except ConfigError as e:
            print(f"config error: {e}", file=sys.stderr)
            return 2

    distributed.setup(cfg.training.device)  # joins torchrun's process group; a no-op under plain python
    try:
        return run(args, cfg)
    finally:
        distributed.teardown()


def run_folder_num_workers(checkpoint: str, overrides: list[str]) -> int:
    """data.num_workers of the run a checkpoint belongs to, from its folder's config.yaml; 0 if unreadable.

    Read without torch (the checkpoint's own config needs torch to load it); should the two
    differ, the trainer warns that the thread count changed.
    """
    try:
        return load_config(resolve_run_path(checkpoint).resolve().parent.parent / "config.yaml", overrides).data.num_workers
    except (ConfigError, OSError):
        return 0  # the checkpoint's own config is checked, and reported, below


def run(args: argparse.Namespace, cfg: ExperimentConfig) -> int:
    from src.training import distributed
    from src.training.trainer import TrainingInterrupted, train
    from src.utils.checkpoint import CheckpointError

    if args.resume and not args.run_name:
        run_dir = resolve_run_path(args.resume).resolve().parent.parent  # runs/<name>/checkpoints/latest.pt
    else:
        # Rank 0 names the folder (its name has a timestamp) and every rank uses that name.
        run_dir = distributed.broadcast_object(make_run_dir(args.config, args.run_name, args.runs_dir)
                                               if distributed.is_main() else None)
    try:
        result = train(cfg, run_dir, resume=resolve_run_path(args.resume) if args.resume else None)
    except TrainingInterrupted as e:
        if distributed.is_main():
            print(f"\nstopped by Ctrl-C; resume with: python scripts/train.py --resume {e.checkpoint}", file=sys.stderr)
        return 130
    except CheckpointError as e:
        print(f"cannot resume: {e}", file=sys.stderr)
        return 2
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:
        print(f"training stopped: {e}", file=sys.stderr)
        return 1
    if result and distributed.is_main():
        print(
            f"run folder: {run_dir}\nval cer={result['cer']:.4f} token_accuracy={result['token_accuracy']:.4f} "
            f"sequence_accuracy={result['sequence_accuracy']:.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
