"""Time to accuracy: the harness stops a run at the target and reports its wall time; the verdict arithmetic."""

import json

from src.bench import time_to_accuracy as tta_mod
from src.bench.time_to_accuracy import TimeToAccuracyConfig, markdown_table, run_time_to_accuracy, verdict


FAKE_TRAIN = """
import argparse, json, signal, sys, time
from pathlib import Path
p = argparse.ArgumentParser()
p.add_argument("--config"); p.add_argument("--run-name"); p.add_argument("--runs-dir")
p.add_argument("--override", nargs="*", default=[])
a = p.parse_args()
run = Path(a.runs_dir) / a.run_name
run.mkdir(parents=True)
(run / "train.log").write_text("2026-12-02 10:00:00 model unet: 0.1M parameters | device cpu | "
                               "amp=bf16 (cpu has amx_bf16) | channels_last | " + " ".join(a.override) + "\\n")
signal.signal(signal.SIGINT, lambda *_: sys.exit(130))  # as the trainer: stop, exit 130
rows = []
for epoch, dice in enumerate([0.5, 0.8, 0.96, 0.97, 0.98, 0.99], start=1):
    time.sleep(0.3)
    rows.append({"epoch": epoch, "step": 10 * epoch, "val_mean_dice": dice, "train_time_s": 0.1 * epoch,
                 "images_per_s": 100.0})
    (run / "metrics.json").write_text(json.dumps(rows))
"""


def test_run_stops_at_the_target_and_times_it(tmp_path, monkeypatch):
    """A stand-in train.py (no torch: a second, not a minute) whose val Dice crosses 0.95 at epoch 3."""
    fake = tmp_path / "fake_train.py"
    fake.write_text(FAKE_TRAIN)
    monkeypatch.setattr(tta_mod, "TRAIN_SCRIPT", fake)
    tta = TimeToAccuracyConfig(config="c.yaml", variants={"a": ["x=1"], "b": []}, target_dice=0.95, repeats=2,
                               runs_dir=str(tmp_path / "runs"), poll_s=0.05)
    rows = run_time_to_accuracy(tta, log=lambda msg: None)
    assert [(r["variant"], r["repeat"]) for r in rows] == [("a", 1), ("b", 1), ("b", 2), ("a", 2)]  # alternating
    for r in rows:
        assert r["reached"] and r["epoch"] == 3 and r["val_mean_dice"] == 0.96
        assert 0.9 <= r["wall_s_to_target"] <= r["process_wall_s"]  # three 0.3 s epochs
        written = json.loads((tmp_path / "runs" / r["run"] / "metrics.json").read_text())
        assert len(written) < 6  # stopped by SIGINT: the last epochs never ran
    assert "x=1" in rows[0]["first_log_line"]
    table = markdown_table(rows, 0.95)
    assert "| a | 1 | amp=bf16 (cpu has amx_bf16), channels_last | yes |" in table
    (full,) = run_time_to_accuracy(TimeToAccuracyConfig(config="c.yaml", variants={"c": []}, target_dice=0.999,
                                                        runs_dir=str(tmp_path / "runs"), poll_s=0.05),
                                   log=lambda msg: None)
    assert not full["reached"] and full["wall_s_to_target"] is None and full["epoch"] == 6


def _row(variant, wall, repeat=1):
    return {"variant": variant, "repeat": repeat, "reached": wall is not None, "wall_s_to_target": wall}


def test_verdict_uses_median_walls_and_flags_misses():
    rows = [_row("fp32_nchw", 300.0), _row("auto", 200.0), _row("auto", 100.0, 2), _row("fp32_nchw", 200.0, 2),
            _row("slow", 290.0), _row("slow", None, 2)]
    text = verdict(rows)
    # medians over the repeats: 250 s and 150 s
    assert "auto vs fp32_nchw: 250.0 s / 150.0 s = 1.67x time to accuracy (meets the 1.3x target)" in text
    assert "slow vs fp32_nchw: a run did not reach the target" in text
    assert "MISSES" in verdict([_row("fp32_nchw", 100.0), _row("auto", 90.0)])
