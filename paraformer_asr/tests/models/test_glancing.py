import math

import torch

from src.models.glancing import glancing_sample


def test_replaces_exactly_floor_lambda_wrong_positions():
    torch.manual_seed(0)
    targets = torch.tensor([[5, 6, 7, 8, 9, 3], [4, 4, 4, 0, 0, 0], [3, 4, 5, 6, 0, 0]])
    lens = torch.tensor([6, 3, 4])
    preds = targets.clone()
    preds[0, [0, 2, 3, 5]] = 2  # 4 wrong
    preds[1, [0, 1, 2]] = 9  # 3 wrong
    preds[1, 3:] = 7  # wrong values in the padding do not count
    # utterance 2: all correct -> 0 replaced
    acoustic = torch.zeros(3, 6, 4)
    target_emb = torch.ones(3, 6, 4)
    for ratio in (0.5, 0.75, 1.0):
        for trial in range(10):
            mixed, replaced = glancing_sample(acoustic, target_emb, preds, targets, lens, ratio, torch.Generator().manual_seed(trial))
            expected = [math.floor(ratio * 4), math.floor(ratio * 3), 0]
            assert replaced.sum(1).tolist() == expected
            assert not replaced[1, 3:].any() and not replaced[2, 4:].any()  # never in the padding
            torch.testing.assert_close(mixed[..., 0], replaced.float())  # replaced rows carry the target embedding


def test_positions_are_random_among_valid():
    targets = torch.tensor([[5, 6, 7, 8]])
    preds = torch.zeros_like(targets)
    seen = torch.zeros(4)
    for trial in range(40):
        _, replaced = glancing_sample(torch.zeros(1, 4, 2), torch.ones(1, 4, 2), preds, targets, torch.tensor([4]), 0.5, torch.Generator().manual_seed(trial))
        seen += replaced[0].float()
    assert torch.all(seen > 0)  # every valid position gets picked sometimes
