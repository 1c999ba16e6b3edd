"""ablate.py's verdict lines and machine line, and one real (tiny) ablation run."""

from pathlib import Path

import pytest

from src.bench.ablation import machine_info, run_ablation, verdicts

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"


def test_verdicts_apply_both_targets():
    rows = [{"run": "base", "val_mean_dice": 0.96, "train_time_s": 300.0, "params": 100},
            {"run": "hyb", "val_mean_dice": 0.96, "train_time_s": 660.0, "params": 150}]
    text = verdicts(rows).splitlines()
    assert "base" in text[0] and "meets" in text[0]
    assert "hyb" in text[1] and "MISSES" in text[1]  # too slow, although accurate enough
    assert "2.20x train time" in text[2] and "1.50x parameters" in text[2]
    low = verdicts([{"run": "x", "val_mean_dice": 0.94, "train_time_s": 10.0, "params": 1}])
    assert "MISSES" in low


def test_machine_info_names_cores_and_torch():
    info = machine_info()
    assert "logical cores" in info and "torch" in info and "UTC" in info


@pytest.mark.slow
def test_tiny_ablation_runs_both_configs(tmp_path):
    hybrid = tmp_path / "tiny_hybrid.yaml"
    hybrid.write_text(TINY.read_text().replace("model:\n", "model:\n  name: unet_transformer\n", 1))
    rows = run_ablation([str(TINY), str(hybrid)], runs_dir=tmp_path / "runs", overrides=["training.num_epochs=1"])
    assert [r["run"] for r in rows] == ["ablate_tiny", "ablate_tiny_hybrid"]
    assert [r["model"] for r in rows] == ["unet", "unet_transformer"]
    assert all(r["train_time_s"] > 0 and r["params"] > 0 for r in rows)
    assert rows[1]["params"] > rows[0]["params"]
