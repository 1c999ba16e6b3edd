"""Run folders: where every training run writes its config, logs, metrics and checkpoints.

Layout (``runs/latest`` always points at the newest run)::

    runs/<name>/
        config.yaml      resolved config
        train.log        everything printed during training
        metrics.json     per-epoch history, a list of dicts
        results.csv      run_id,model_type,epoch,step,<losses and metrics...>
        checkpoints/     best.pt, latest.pt
        plots/           curves and prediction grids
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

LATEST = "latest"


def make_run_dir(config_path: str | Path | None, run_name: str | None, runs_root: str | Path = "runs") -> Path:
    """Create ``runs_root/<run_name>`` (default ``<YYYYmmdd_HHMMSS>_<config-stem>``) and point ``latest`` at it."""
    runs_root = Path(runs_root)
    if run_name is None:
        stem = Path(config_path).stem if config_path else "defaults"
        run_name = f"{datetime.now():%Y%m%d_%H%M%S}_{stem}"
    if run_name == LATEST or "/" in run_name or run_name in ("", ".", ".."):
        raise ValueError(f"invalid run name {run_name!r}: use a plain folder name other than '{LATEST}'")
    run_dir = runs_root / run_name
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run_dir / "plots").mkdir(exist_ok=True)
    _point_latest(runs_root, run_name)
    return run_dir


def _point_latest(runs_root: Path, run_name: str) -> None:
    """Make ``runs_root/latest`` a relative symlink to the run; where symlinks fail, a file naming it."""
    link = runs_root / LATEST
    tmp = runs_root / f".{LATEST}.tmp{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    try:
        tmp.symlink_to(run_name, target_is_directory=True)
        os.replace(tmp, link)  # atomic swap, also over an older symlink
    except OSError:
        if link.is_symlink():
            link.unlink()
        link.write_text(run_name + "\n")  # resolved by resolve_run_path


def resolve_run_path(path: str | Path) -> Path:
    """Resolve a path through ``runs/latest`` also where ``latest`` is a plain file naming the run."""
    path = Path(path)
    parts = path.parts
    if LATEST in parts:
        i = parts.index(LATEST)
        link = Path(*parts[: i + 1])
        if link.is_file() and not link.is_symlink():
            target = link.parent / link.read_text().strip()
            return target.joinpath(*parts[i + 1 :])
    return path


class RunLogger:
    """Writes ``train.log`` (and the console), ``metrics.json`` and ``results.csv`` of one run."""

    def __init__(self, run_dir: str | Path, *, run_id: str, model_type: str, console: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.run_id = run_id
        self.model_type = model_type
        self.metrics_path = self.run_dir / "metrics.json"
        self.csv_path = self.run_dir / "results.csv"
        self.history: list[dict[str, Any]] = (
            json.loads(self.metrics_path.read_text()) if self.metrics_path.exists() else []
        )
        self._logger = logging.getLogger(f"run.{self.run_dir.resolve()}")
        self._logger.setLevel(logging.INFO)
        self._logger.propagate = False
        for h in list(self._logger.handlers):  # a resumed run in the same process
            self._logger.removeHandler(h)
            h.close()
        fmt = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S")
        file_handler = logging.FileHandler(self.run_dir / "train.log", mode="a")
        file_handler.setFormatter(fmt)
        self._logger.addHandler(file_handler)
        if console:
            stream = logging.StreamHandler(sys.stderr)
            stream.setFormatter(logging.Formatter("%(message)s"))
            self._logger.addHandler(stream)

    def info(self, msg: str) -> None:
        self._logger.info(msg)

    def log_epoch(self, row: dict[str, Any]) -> None:
        """Append one epoch's row (must hold ``epoch`` and ``step``) to metrics.json and results.csv."""
        if "epoch" not in row or "step" not in row:
            raise ValueError(f"log_epoch needs 'epoch' and 'step' in the row, got keys {sorted(row)}")
        full = {"run_id": self.run_id, "model_type": self.model_type, **row}
        # A resumed run re-logs from its checkpoint's epoch on: drop rows it supersedes.
        self.history = [r for r in self.history if r["epoch"] < row["epoch"]] + [full]
        _write_atomic(self.metrics_path, json.dumps(self.history, indent=2))
        self._write_csv()

    def _write_csv(self) -> None:
        fixed = ["run_id", "model_type", "epoch", "step"]
        extra: list[str] = []
        for r in self.history:
            # Nested values (per-class tables) live in metrics.json only.
            extra += [k for k, v in r.items() if k not in fixed and k not in extra and not isinstance(v, (dict, list))]
        tmp = self.csv_path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fixed + extra)
            writer.writeheader()
            for r in self.history:
                writer.writerow({k: v for k, v in r.items() if k in fixed or k in extra})
        os.replace(tmp, self.csv_path)

    def close(self) -> None:
        for h in list(self._logger.handlers):
            self._logger.removeHandler(h)
            h.close()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
