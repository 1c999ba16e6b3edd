import json

import torch

from src.training.plots import plot_cif, plot_curves


def test_cif_plot_fire_frames_from_hand_alphas(tmp_path):
    # running sums: 0.6, 1.2 (fire at 1), 1.5, 2.3 (fire at 3), 2.4, 4.1 (two fires at 5)
    alphas = torch.tensor([0.6, 0.6, 0.3, 0.8, 0.1, 1.7])
    fires = plot_cif(alphas, "abcd", tmp_path / "cif.png", threshold=1.0, hypothesis="abcd")
    assert fires == [1, 3, 5, 5]
    assert (tmp_path / "cif.png").stat().st_size > 0


def test_curves_plot_writes_a_file(tmp_path):
    history = [
        {"epoch": 1, "step": 10, "lr": 1e-3, "train_loss": 3.0, "val_loss": 2.5, "cer": 0.5, "token_accuracy": 0.5},
        {"epoch": 2, "step": 20, "lr": 1e-3, "train_loss": 1.0, "val_loss": 1.2, "cer": 0.1, "token_accuracy": 0.9},
    ]
    plot_curves(json.loads(json.dumps(history)), tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 0
