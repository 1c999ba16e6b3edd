"""src/utils/openmp.py: OMP_WAIT_POLICY is set before torch loads, only where data workers share the cores."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from src.utils import openmp

ROOT = Path(__file__).resolve().parents[2]


def policy_in_fresh_process(num_workers: int, *, preset: str | None = None, import_torch_first: bool = False) -> str:
    """'OMP_WAIT_POLICY passive' after prefer_passive_waits(num_workers) in a new interpreter."""
    code = (
        "import os, sys\n"
        + ("import torch\n" if import_torch_first else "")
        + "from src.utils import openmp\n"
        f"passive = openmp.prefer_passive_waits({num_workers})\n"
        "print(os.environ.get('OMP_WAIT_POLICY'), passive)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset is not None:
        env["OMP_WAIT_POLICY"] = preset
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.parametrize("num_workers,preset,expected", [
    (1, None, "PASSIVE True"),      # a worker shares the cores: idle model threads sleep
    (0, None, "None False"),            # no workers: spinning is faster, nothing is set
    (2, "ACTIVE", "ACTIVE False"),  # the user's choice is kept
    (1, "passive", "passive True"),
])
def test_passive_waits_are_set_only_with_workers_and_never_over_the_user(num_workers, preset, expected):
    assert policy_in_fresh_process(num_workers, preset=preset) == expected


def test_nothing_is_set_once_torch_is_loaded():
    """libgomp has read its policy by then; setting the variable would only make the log lie."""
    assert policy_in_fresh_process(1, import_torch_first=True) == "None False"


def test_waits_passively_reads_the_environment(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", " Passive ")
    assert openmp.waits_passively()
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert not openmp.waits_passively()
    monkeypatch.delenv("OMP_WAIT_POLICY")
    assert not openmp.waits_passively()
