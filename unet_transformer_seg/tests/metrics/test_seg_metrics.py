"""SegMetrics against hand-computed 2x3 cases: ignore_index, absent classes, accumulation, binary, logits."""

import math

import pytest
import torch
import torch.nn.functional as F

from src.metrics.seg_metrics import SegMetrics

IGN = 255

# K = 3. The ignored pixel (bottom right) is predicted 1 and must not count.
#   target          pred
#   [[0, 1, 1],     [[0, 1, 2],
#    [2, 2, 255]]    [2, 0, 1]]
# labelled (t, p) pairs: (0,0) (1,1) (1,2) (2,2) (2,0)
# confusion (rows t, cols p) = [[1,0,0], [0,1,1], [1,0,1]]
#   TP = [1,1,1]; FP = col sums - TP = [2,1,2] - TP = [1,0,1]; FN = row sums - TP = [1,2,2] - TP = [0,1,1]
#   Dice = 2TP / (2TP+FP+FN) = [2/3, 2/3, 1/2];  IoU = TP / (TP+FP+FN) = [1/2, 1/2, 1/3]
#   mean over foreground (1, 2): Dice (2/3 + 1/2)/2 = 7/12, IoU (1/2 + 1/3)/2 = 5/12
#   pixel accuracy = 3 correct / 5 labelled
TARGET = torch.tensor([[[0, 1, 1], [2, 2, IGN]]])
PRED = torch.tensor([[[0, 1, 2], [2, 0, 1]]])


def test_hand_case_with_ignore_index():
    m = SegMetrics(3, ignore_index=IGN, class_names=["bg", "a", "b"])
    m.update(PRED, TARGET)
    assert m.confusion.tolist() == [[1, 0, 0], [0, 1, 1], [1, 0, 1]]
    assert m.confusion.dtype == torch.int64
    r = m.compute()
    assert r["mean_dice"] == pytest.approx(7 / 12)
    assert r["mean_iou"] == pytest.approx(5 / 12)
    assert r["pixel_accuracy"] == pytest.approx(3 / 5)
    assert r["per_class"]["bg"] == pytest.approx({"dice": 2 / 3, "iou": 1 / 2})
    assert r["per_class"]["a"] == pytest.approx({"dice": 2 / 3, "iou": 1 / 2})
    assert r["per_class"]["b"] == pytest.approx({"dice": 1 / 2, "iou": 1 / 3})


def test_logits_give_the_same_as_labels():
    logits = F.one_hot(PRED, 3).permute(0, 3, 1, 2).float() + 0.1 * torch.randn(1, 3, 2, 3)
    a, b = SegMetrics(3), SegMetrics(3)
    a.update(PRED, TARGET)
    b.update(logits, TARGET)
    assert torch.equal(a.confusion, b.confusion)


def test_class_absent_from_both_is_nan_and_excluded():
    # Same masks with K = 4: class 3 appears in neither -> NaN, and the means are unchanged.
    m = SegMetrics(4)
    m.update(PRED, TARGET)
    r = m.compute()
    assert math.isnan(r["per_class"]["class_3"]["dice"]) and math.isnan(r["per_class"]["class_3"]["iou"])
    assert r["mean_dice"] == pytest.approx(7 / 12)
    assert r["mean_iou"] == pytest.approx(5 / 12)


def test_class_predicted_but_absent_scores_zero():
    # target all background; one pixel wrongly predicted as class 1; class 2 absent from both.
    # class 1: TP 0, FP 1 -> Dice 0 (counts); class 2: NaN (excluded) -> mean Dice 0.
    # background: TP 5, FN 1 -> Dice 10/11; pixel accuracy 5/6.
    m = SegMetrics(3)
    m.update(torch.tensor([[[0, 1, 0], [0, 0, 0]]]), torch.zeros(1, 2, 3, dtype=torch.long))
    r = m.compute()
    assert r["per_class"]["class_1"]["dice"] == 0.0
    assert math.isnan(r["per_class"]["class_2"]["dice"])
    assert r["mean_dice"] == 0.0 and r["mean_iou"] == 0.0
    assert r["per_class"]["class_0"]["dice"] == pytest.approx(10 / 11)
    assert r["pixel_accuracy"] == pytest.approx(5 / 6)


def test_all_foreground_absent_gives_nan_means():
    m = SegMetrics(3)
    zeros = torch.zeros(1, 2, 3, dtype=torch.long)
    m.update(zeros, zeros)
    r = m.compute()
    assert math.isnan(r["mean_dice"]) and math.isnan(r["mean_iou"])
    assert r["pixel_accuracy"] == 1.0 and r["per_class"]["class_0"]["dice"] == 1.0


def test_nothing_labelled_gives_nan_accuracy():
    m = SegMetrics(2)
    m.update(torch.zeros(1, 2, 2, dtype=torch.long), torch.full((1, 2, 2), IGN))
    assert m.confusion.sum() == 0
    assert math.isnan(m.compute()["pixel_accuracy"])


def test_accumulates_over_the_dataset_not_per_batch():
    # Batch A: 4 pixels of class 1, all found (Dice 1). Batch B: 1 pixel of class 1, missed (Dice 0).
    # Mean of per-batch scores would be 0.5; over the dataset TP 4, FN 1 -> Dice 8/9, IoU 4/5.
    m = SegMetrics(2)
    m.update(torch.tensor([[[1, 1], [1, 1]]]), torch.tensor([[[1, 1], [1, 1]]]))
    m.update(torch.tensor([[[0, 0], [0, 0]]]), torch.tensor([[[1, 0], [0, 0]]]))
    r = m.compute()
    assert r["mean_dice"] == pytest.approx(8 / 9)
    assert r["mean_iou"] == pytest.approx(4 / 5)


def test_split_updates_equal_one_update():
    torch.manual_seed(0)
    pred, target = torch.randint(0, 4, (6, 5, 5)), torch.randint(0, 4, (6, 5, 5))
    target[0, 0] = IGN
    whole, parts = SegMetrics(4), SegMetrics(4)
    whole.update(pred, target)
    for i in range(0, 6, 2):
        parts.update(pred[i : i + 2], target[i : i + 2])
    assert torch.equal(whole.confusion, parts.confusion)
    assert int(whole.confusion.sum()) == 6 * 25 - 5


def test_reset():
    m = SegMetrics(3)
    m.update(PRED, TARGET)
    m.reset()
    assert m.confusion.sum() == 0 and m.confusion.shape == (3, 3)


def test_binary_single_logit():
    # K = 1: logit > 0 means foreground. target [[1, 1, 0], [0, 1, 255]], pred [[1, 0, 0], [1, 1, 1]]
    # labelled pairs: (1,1) (1,0) (0,0) (0,1) (1,1) -> foreground TP 2, FP 1, FN 1
    #   Dice 4/6 = 2/3, IoU 2/4 = 1/2; background TP 1, FP 1, FN 1 -> Dice 1/2; accuracy 3/5
    logits = torch.tensor([[[[2.0, -1.0, -3.0], [0.5, 4.0, 1.0]]]])  # (1, 1, 2, 3)
    target = torch.tensor([[[1, 1, 0], [0, 1, IGN]]])
    m = SegMetrics(1, class_names=["lesion"])
    m.update(logits, target)
    assert m.confusion.shape == (2, 2)
    r = m.compute()
    assert set(r["per_class"]) == {"background", "lesion"}
    assert r["mean_dice"] == pytest.approx(2 / 3)
    assert r["mean_iou"] == pytest.approx(1 / 2)
    assert r["per_class"]["background"]["dice"] == pytest.approx(1 / 2)
    assert r["pixel_accuracy"] == pytest.approx(3 / 5)


def test_errors_say_what_to_change():
    m = SegMetrics(3)
    with pytest.raises(ValueError, match=r"labels \[5\].*ignore_index=255"):
        m.update(PRED, torch.tensor([[[0, 1, 5], [2, 2, IGN]]]))
    with pytest.raises(ValueError, match="K=3"):
        m.update(torch.randn(1, 4, 2, 3), TARGET)
    with pytest.raises(ValueError, match="3 names"):
        SegMetrics(3, class_names=["a", "b"])


def test_compute_keys():
    m = SegMetrics(3)
    m.update(PRED, TARGET)
    r = m.compute()
    assert set(r) == {"mean_dice", "mean_iou", "pixel_accuracy", "per_class"}
    assert all(set(v) == {"dice", "iou"} for v in r["per_class"].values())
    assert all(isinstance(r[k], float) for k in ("mean_dice", "mean_iou", "pixel_accuracy"))
