"""What ``scripts/train.py`` does, as a function: config, run folder, resume, exit codes."""

from __future__ import annotations

import sys
from pathlib import Path

from src.utils.config import ConfigError, apply_overrides, config_from_dict, load_config_or_exit
from src.utils.logging import make_run_dir, resolve_run_path


def run_training(*, config: str | None, run_name: str | None, runs_dir: str | Path = "runs",
                 overrides: list[str] | None = None, resume: str | None = None, device: str | None = None) -> int:
    """Train and return the process exit code: 0 done, 1 failed, 2 bad config, 130 interrupted."""
    overrides = list(overrides or [])
    if device is not None:
        overrides.append(f"training.device={device}")
    if resume is None:  # check the config before the slow imports below, so a typo fails at once
        load_config_or_exit(config, overrides)
    from src.data.folder import FolderDatasetError
    from src.training import distributed
    from src.training.trainer import INTERRUPTED_EXIT_CODE, TrainingDivergedError, train
    from src.utils.checkpoint import CheckpointError, load_checkpoint

    try:
        if resume is not None:
            resume_path = resolve_run_path(resume)
            ckpt = load_checkpoint(resume_path)
            if config is not None:
                print(f"note: --resume uses the config stored in {resume}; ignoring --config {config}", file=sys.stderr)
            # The checkpoint's resolved config, plus any overrides (e.g. more epochs).
            try:
                cfg = config_from_dict(apply_overrides(ckpt["config"], overrides))
            except ConfigError as e:
                print(f"config error: {e}", file=sys.stderr)
                return 2
            resume_path = Path(resume_path).resolve()
            # Under torchrun: join the process group (nccl on CUDA, gloo on the CPU); a no-op otherwise.
            distributed.setup(cfg.training.device)
            # Rank 0 makes the run folder (its name has a timestamp) and tells the others.
            if resume_path.parent.name == "checkpoints":  # continue in the same run folder
                run_dir = distributed.broadcast_object(
                    make_run_dir(None, resume_path.parents[1].name, runs_root=resume_path.parents[2])
                    if distributed.is_main() else None)
            else:
                run_dir = distributed.broadcast_object(
                    make_run_dir(None, run_name, runs_root=runs_dir) if distributed.is_main() else None)
        else:
            cfg = load_config_or_exit(config, overrides)
            distributed.setup(cfg.training.device)
            run_dir = distributed.broadcast_object(
                make_run_dir(config, run_name, runs_root=runs_dir) if distributed.is_main() else None)
        result = train(cfg, run_dir, resume=resume_path if resume is not None else None)
    except (CheckpointError, FolderDatasetError, TrainingDivergedError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        distributed.teardown()
    return INTERRUPTED_EXIT_CODE if result["status"] == "interrupted" else 0
