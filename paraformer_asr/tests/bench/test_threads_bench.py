"""src/bench/threads.py: settings, the timing read from train.log, and one real run of the script."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from src.bench.threads import Setting, seconds_per_step

ROOT = Path(__file__).resolve().parents[2]

LOG = """2026-12-08 00:39:17 model=ctc params=0.94M device=cpu threads=2
2026-12-08 00:39:18 step 1 epoch 1 lr=1.000e-05 loss=8.3726
2026-12-08 00:39:30 step 10 epoch 1 lr=1.000e-04 loss=4.1
2026-12-08 00:39:36 step 20 epoch 1 lr=2.000e-04 loss=3.7
2026-12-08 00:39:58 epoch 1 val cer=0.9
2026-12-08 00:40:09 step 40 epoch 2 lr=4.000e-04 loss=3.2
"""


def test_seconds_per_step_times_from_the_skipped_step_to_the_last():
    sec, steps = seconds_per_step(LOG, skip=10)
    assert steps == 30
    assert sec == pytest.approx(39 / 30)  # 00:39:30 -> 00:40:09


def test_a_log_without_the_skipped_step_names_the_logged_ones():
    with pytest.raises(ValueError, match=r"no step 5 .*\[1, 10, 20, 40\]"):
        seconds_per_step(LOG, skip=5)


@pytest.mark.parametrize("text,expected", [("2:passive", Setting(2, "passive")), ("1:ACTIVE", Setting(1, "active"))])
def test_settings_parse(text, expected):
    assert Setting.parse(text) == expected


@pytest.mark.parametrize("bad", ["2", "0:passive", "2:spin", "x:active"])
def test_a_bad_setting_says_how_to_write_one(bad):
    with pytest.raises(ValueError, match="THREADS:POLICY"):
        Setting.parse(bad)


@pytest.mark.slow  # two training subprocesses of the tiny config
def test_the_script_times_each_setting_in_its_own_process(tmp_path):
    out = tmp_path / "rows.json"
    done = subprocess.run(
        [sys.executable, "scripts/bench_threads.py", "--config", "configs/tiny_ctc.yaml", "--settings", "1:active",
         "1:passive", "--rounds", "1", "--steps", "4", "--skip", "2", "--override", "training.num_epochs=1",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())
    assert [(r["threads"], r["policy"]) for r in rows] == [(1, "active"), (1, "passive")]
    assert all(r["s_per_step"] >= 0 for r in rows)
    table = done.stdout.splitlines()
    assert table[0].startswith("| order | round | model threads | OMP_WAIT_POLICY | s/step (steps 2-4)")
    assert len(table) == 2 + len(rows)
