"""compare_runs: the table and the plot from run folders."""

import json

from src.training.compare import load_runs, markdown_table, plot_runs, summarize


def fake_run(root, name, dices, model="unet"):
    d = root / name
    d.mkdir(parents=True)
    rows = [{"run_id": name, "model_type": model, "epoch": i + 1, "step": 10 * (i + 1), "val_mean_dice": v,
             "val_mean_iou": v - 0.1, "val_loss": 1 - v, "train_time_s": 5.0 * (i + 1), "images_per_s": 100.0,
             "num_params": 1234, "val_dice_circle": v, "val_iou_circle": v - 0.2}
            for i, v in enumerate(dices)]
    (d / "metrics.json").write_text(json.dumps(rows))


def test_table_uses_best_epoch(tmp_path):
    fake_run(tmp_path, "a", [0.5, 0.9, 0.8])
    fake_run(tmp_path, "b", [0.6], model="unet_transformer")
    (tmp_path / "empty").mkdir()  # no metrics.json: skipped
    runs = load_runs(tmp_path)
    assert [r["name"] for r in runs] == ["a", "b"]
    rows = [summarize(r) for r in runs]
    assert rows[0]["best_epoch"] == 2 and rows[0]["val_mean_dice"] == 0.9 and rows[0]["epochs"] == 3
    table = markdown_table(rows)
    lines = table.splitlines()
    assert lines[0].startswith("| run | model | params |") and "circle Dice / IoU" in lines[0]
    assert "| a | unet | 1,234 | 3 | 30 | 15.0 | 100.0 | 2 | 0.9000 | 0.8000 | 0.900 / 0.700 |" in table
    assert "| b | unet_transformer |" in table
    assert plot_runs(runs, tmp_path / "c.png").stat().st_size > 0
