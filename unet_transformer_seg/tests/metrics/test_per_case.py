"""PerCaseMetrics against hand-computed cases, including nnU-Net's absent-class rule."""

import math

import pytest
import torch

from src.metrics.per_case import PerCaseMetrics
from src.metrics.seg_metrics import SegMetrics

IGN = 255

# K = 3, two images of 1x4 pixels.
# image A: target [0, 1, 1, 1], pred [0, 1, 0, 0]
#   class 0: TP 1, FP 2, FN 0 -> Dice 2/4;  IoU 1/3
#   class 1: TP 1, FP 0, FN 2 -> Dice 2/4;  IoU 1/3
#   class 2: absent from both -> NaN
# image B: target [0, 0, 2, 255], pred [0, 0, 2, 1] (the ignored pixel does not count)
#   class 0: TP 2 -> Dice 1; class 1: absent from both (ignored pixel) -> NaN; class 2: TP 1 -> Dice 1
# per-case: Dice_0 = (1/2 + 1)/2 = 3/4, Dice_1 = nanmean(1/2, NaN) = 1/2, Dice_2 = nanmean(NaN, 1) = 1
#   foreground mean = (1/2 + 1)/2 = 3/4;  IoU_1 = 1/3, IoU_2 = 1 -> mean 2/3
# pooled (SegMetrics) over the same pixels: class 1 TP 1, FP 0, FN 2 -> 1/2; class 2 TP 1 -> 1; mean 3/4,
# but class 0: TP 3, FP 2, FN 0 -> 6/8 = 3/4 (per-case also 3/4 here; the next test separates them).
TARGET_A, PRED_A = torch.tensor([[0, 1, 1, 1]]), torch.tensor([[0, 1, 0, 0]])
TARGET_B, PRED_B = torch.tensor([[0, 0, 2, IGN]]), torch.tensor([[0, 0, 2, 1]])


def test_hand_case_with_absent_class_rule():
    m = PerCaseMetrics(3, IGN, ["bg", "a", "b"])
    m.update(PRED_A, TARGET_A)
    m.update(PRED_B, TARGET_B)
    r = m.compute()
    assert r["num_cases"] == 2
    assert r["per_class"]["bg"]["dice"] == pytest.approx(3 / 4)
    assert r["per_class"]["a"] == pytest.approx({"dice": 1 / 2, "iou": 1 / 3, "cases": 1})
    assert r["per_class"]["b"] == pytest.approx({"dice": 1.0, "iou": 1.0, "cases": 1})
    assert r["mean_dice"] == pytest.approx(3 / 4)
    assert r["mean_iou"] == pytest.approx(2 / 3)


def test_per_case_differs_from_pooled_when_sizes_differ():
    # Image 1: a big object found perfectly (9 px); image 2: a 1 px object missed.
    # pooled class 1: TP 9, FN 1 -> 18/19; per-case: mean(1, 0) = 1/2.
    big_t = torch.ones(1, 3, 3, dtype=torch.long)
    small_t = torch.zeros(1, 3, 3, dtype=torch.long)
    small_t[0, 1, 1] = 1
    pc, pooled = PerCaseMetrics(2, IGN), SegMetrics(2, IGN)
    for t, p in ((big_t, big_t.clone()), (small_t, torch.zeros_like(small_t))):
        pc.update(p, t)
        pooled.update(p, t)
    assert pc.compute()["mean_dice"] == pytest.approx(1 / 2)
    assert pooled.compute()["mean_dice"] == pytest.approx(18 / 19)


def test_predicted_but_absent_scores_zero_and_counts():
    m = PerCaseMetrics(2, IGN)
    m.update(torch.tensor([[1, 0]]), torch.tensor([[0, 0]]))  # class 1: FP 1 -> Dice 0
    m.update(torch.tensor([[1, 1]]), torch.tensor([[1, 1]]))  # class 1: Dice 1
    r = m.compute()
    assert r["per_class"]["class_1"] == pytest.approx({"dice": 0.5, "iou": 0.5, "cases": 2})


def test_class_absent_everywhere_is_nan_and_batches_split_into_cases():
    m = PerCaseMetrics(3, IGN)
    m.update(torch.zeros(2, 2, 2, dtype=torch.long), torch.zeros(2, 2, 2, dtype=torch.long))  # a batch of 2 cases
    r = m.compute()
    assert r["num_cases"] == 2
    assert math.isnan(r["per_class"]["class_1"]["dice"]) and r["per_class"]["class_1"]["cases"] == 0
    assert math.isnan(r["mean_dice"])
    assert r["per_class"]["class_0"]["dice"] == 1.0
    m.reset()
    assert m.compute()["num_cases"] == 0


def test_binary_k1_and_errors():
    m = PerCaseMetrics(1, IGN, ["fg"])
    assert m.class_names == ["background", "fg"]
    m.update(torch.tensor([[1, 0]]), torch.tensor([[1, 1]]))  # TP 1 FN 1 -> 2/3
    assert m.compute()["mean_dice"] == pytest.approx(2 / 3)
    with pytest.raises(TypeError, match="argmax"):
        m.update(torch.zeros(1, 2), torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="outside"):
        m.update(torch.tensor([[3, 0]]), torch.tensor([[0, 0]]))
