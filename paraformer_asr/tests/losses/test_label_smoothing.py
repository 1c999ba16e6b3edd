import torch
import torch.nn.functional as F

from src.losses.label_smoothing import label_smoothing_loss
from src.losses.mae import mae_loss


def test_matches_torch_cross_entropy_on_valid_tokens():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 7)
    targets = torch.tensor([[3, 4, 5, 6], [2, 3, 0, 0]])
    lens = torch.tensor([4, 2])
    valid = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    for eps in (0.0, 0.1):
        ours = label_smoothing_loss(logits, targets, lens, eps)
        ref = F.cross_entropy(logits[valid], targets[valid], label_smoothing=eps)
        torch.testing.assert_close(ours, ref)


def test_padding_is_ignored():
    torch.manual_seed(0)
    logits = torch.randn(1, 5, 7)
    targets = torch.tensor([[3, 4, 5, 0, 0]])
    a = label_smoothing_loss(logits, targets, torch.tensor([3]), 0.1)
    logits2 = logits.clone()
    logits2[:, 3:] = 100 * torch.randn(1, 2, 7)
    torch.testing.assert_close(a, label_smoothing_loss(logits2, targets, torch.tensor([3]), 0.1))


def test_perfect_prediction_without_smoothing_is_near_zero():
    logits = torch.full((1, 2, 5), -50.0)
    logits[0, 0, 3] = 50.0
    logits[0, 1, 4] = 50.0
    assert float(label_smoothing_loss(logits, torch.tensor([[3, 4]]), torch.tensor([2]))) < 1e-6


def test_mae():
    # |2.5 - 3| = .5, |4 - 2| = 2 -> mean 1.25
    assert float(mae_loss(torch.tensor([2.5, 4.0]), torch.tensor([3, 2]))) == 1.25
