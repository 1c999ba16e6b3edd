"""Seconds per training step for each (model threads, OpenMP wait policy), on real training steps.

OpenMP reads ``OMP_WAIT_POLICY`` once, when torch loads (src/utils/openmp.py), so each setting
trains in a fresh ``scripts/train.py`` process: ``--steps`` steps of the config with
``training.num_threads`` fixed, timed from train.log's timestamps between step ``skip`` and the
last (the first steps pay for start-up and warm caches). The settings run interleaved, round
after round, so that a machine whose speed drifts shifts them all alike.

The log stamps whole seconds, so a figure is good to about 1 / (steps - skip) s per step.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
POLICIES = ("active", "passive")
STEP_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) step (\d+) ")


@dataclass(frozen=True)
class Setting:
    threads: int
    policy: str  # OMP_WAIT_POLICY: active (idle threads spin) or passive (they sleep)

    @classmethod
    def parse(cls, text: str) -> Setting:
        """``"2:passive"`` -> Setting(2, "passive")."""
        threads, _, policy = text.partition(":")
        if not threads.isdigit() or int(threads) < 1 or policy.lower() not in POLICIES:
            raise ValueError(f"setting {text!r}: write THREADS:POLICY with THREADS >= 1 and POLICY one of "
                             f"{', '.join(POLICIES)}, e.g. 2:passive")
        return cls(int(threads), policy.lower())

    def __str__(self) -> str:
        return f"{self.threads}:{self.policy}"


def seconds_per_step(log_text: str, skip: int) -> tuple[float, int]:
    """(seconds per step between step ``skip`` and the last logged step, steps timed) from train.log."""
    stamps = {int(m.group(2)): datetime.fromisoformat(m.group(1))
              for m in map(STEP_LINE.match, log_text.splitlines()) if m}
    if skip not in stamps or max(stamps, default=0) <= skip:
        raise ValueError(f"train.log has no step {skip} and a later one to time from: "
                         f"logged steps {sorted(stamps)}; log every step that --skip names (training.log_every)")
    last = max(stamps)
    return (stamps[last] - stamps[skip]).total_seconds() / (last - skip), last - skip


def time_setting(config: str, setting: Setting, *, steps: int, skip: int, overrides: list[str],
                 runs_dir: Path, name: str) -> float:
    """Train ``steps`` steps of ``config`` under ``setting`` in a new process; seconds per step after ``skip``."""
    env = {**os.environ, "OMP_WAIT_POLICY": setting.policy.upper()}
    env.pop("OMP_NUM_THREADS", None)  # training.num_threads sets the count
    cmd = [sys.executable, "scripts/train.py", "--config", config, "--runs-dir", str(runs_dir), "--run-name", name,
           "--override", f"training.max_steps={steps}", f"training.log_every={skip}",
           f"training.num_threads={setting.threads}", *overrides]
    done = subprocess.run(cmd, cwd=PROJECT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return seconds_per_step((runs_dir / name / "train.log").read_text(), skip)[0]


def bench_threads(config: str, settings: list[Setting], *, steps: int = 70, skip: int = 10, rounds: int = 2,
                  overrides: list[str] | None = None, progress=print) -> list[dict]:
    """One row per (round, setting), in the order run: threads, policy, seconds per step."""
    if steps <= skip or steps % skip:
        raise ValueError(f"--steps {steps} must be a multiple of --skip {skip} and larger (the log stamps every --skip steps)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_threads_") as tmp:
        for r in range(rounds):
            for i, setting in enumerate(settings):
                sec = time_setting(config, setting, steps=steps, skip=skip, overrides=list(overrides or []),
                                   runs_dir=Path(tmp), name=f"r{r}_{i}")
                rows.append({"round": r + 1, "threads": setting.threads, "policy": setting.policy, "s_per_step": sec})
                progress(f"round {r + 1} {setting}: {sec:.3f} s/step")
    return rows


def markdown(rows: list[dict], steps: int, skip: int) -> str:
    lines = [f"| order | round | model threads | OMP_WAIT_POLICY | s/step (steps {skip}-{steps}) |",
             "|---:|---:|---:|---|---:|"]
    lines += [f"| {i} | {r['round']} | {r['threads']} | {r['policy']} | {r['s_per_step']:.3f} |"
              for i, r in enumerate(rows, 1)]
    return "\n".join(lines)
