"""Losses: CE == F.cross_entropy, Dice against hand-computed cases, ignore_index, binary variant, build_loss."""

import math

import pytest
import torch
import torch.nn.functional as F

from src.losses import SegLoss, build_loss, seg_cross_entropy, soft_dice_loss
from src.utils.config import LossConfig

IGN = 255


def logits_from_probs(probs: list[list[float]]) -> torch.Tensor:
    """Per-pixel class probabilities [[p_0..p_K-1] per pixel] -> (1, K, 1, P) logits whose softmax is them."""
    return torch.tensor(probs, dtype=torch.float64).log().T[None, :, None, :]


# Two pixels, K = 2: pixel 0 is class 0 predicted [0.8, 0.2]; pixel 1 is class 1 predicted [0.4, 0.6].
#   class 0: p = [0.8, 0.4], g = [1, 0] -> I = 0.8, S = 1.2 + 1 = 2.2 -> dice0 = 1.6 / 2.2 = 8/11
#   class 1: p = [0.2, 0.6], g = [0, 1] -> I = 0.6, S = 0.8 + 1 = 1.8 -> dice1 = 1.2 / 1.8 = 2/3
TWO_PIXELS = logits_from_probs([[0.8, 0.2], [0.4, 0.6]])
TWO_TARGETS = torch.tensor([[[0, 1]]])


def test_dice_hand_case_no_smoothing():
    loss = soft_dice_loss(TWO_PIXELS, TWO_TARGETS, smooth=0.0)
    assert loss.item() == pytest.approx(1 - (8 / 11 + 2 / 3) / 2)  # = 10/33


def test_dice_hand_case_smoothing():
    # s = 1: dice0 = (1.6 + 1) / (2.2 + 1) = 13/16, dice1 = (1.2 + 1) / (1.8 + 1) = 11/14
    loss = soft_dice_loss(TWO_PIXELS, TWO_TARGETS, smooth=1.0)
    assert loss.item() == pytest.approx(1 - (13 / 16 + 11 / 14) / 2)


def test_dice_without_background():
    loss = soft_dice_loss(TWO_PIXELS, TWO_TARGETS, smooth=0.0, include_background=False)
    assert loss.item() == pytest.approx(1 - 2 / 3)


def test_dice_ignore_index_excluded_from_numerator_and_denominator():
    # A third pixel labelled ignore_index, confidently predicted as class 1: must change nothing.
    logits = logits_from_probs([[0.8, 0.2], [0.4, 0.6], [0.1, 0.9]]).requires_grad_(True)
    target = torch.tensor([[[0, 1, IGN]]])
    loss = soft_dice_loss(logits, target, smooth=0.0, ignore_index=IGN)
    assert loss.item() == pytest.approx(10 / 33)
    loss.backward()
    assert logits.grad[..., 2].abs().max() == 0  # no gradient reaches the ignored pixel
    assert logits.grad[..., :2].abs().max() > 0


def test_dice_absent_class_uses_smoothing():
    # K = 3, class 2 absent from the target, predicted with 0.1 at both pixels:
    #   I2 = 0, S2 = 0.2 -> s = 1: dice2 = 1 / 1.2 = 5/6
    #   class 0: p = [0.7, 0.3] -> (1.4 + 1) / (1.0 + 1 + 1) = 0.8
    #   class 1: p = [0.2, 0.6] -> (1.2 + 1) / (0.8 + 1 + 1) = 11/14
    logits = logits_from_probs([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1]])
    loss = soft_dice_loss(logits, TWO_TARGETS, smooth=1.0)
    assert loss.item() == pytest.approx(1 - (0.8 + 11 / 14 + 5 / 6) / 3)


def test_dice_perfect_prediction_is_zero_and_empty_class_counts_as_perfect():
    target = torch.tensor([[[0, 1], [1, 0]]])  # (1, 2, 2); class 2 of K=3 absent
    logits = F.one_hot(target, 3).permute(0, 3, 1, 2).double() * 50.0  # softmax ~ one-hot
    assert soft_dice_loss(logits, target, smooth=1.0).item() == pytest.approx(0.0, abs=1e-12)
    # Without smoothing the absent class scores 0 / (tiny softmax mass) = 0, not 1: it costs 1/K.
    assert soft_dice_loss(logits, target, smooth=0.0).item() == pytest.approx(1 / 3)
    # Exact zeros (every pixel ignored) hit the defined 0/0 = 1 case.
    assert soft_dice_loss(logits, torch.full_like(target, IGN), smooth=0.0).item() == 0.0


def test_dice_binary_sigmoid_hand_case():
    # K = 1, p = sigmoid(logit) = [0.8, 0.3, 0.6], target [1, 0, ignore]:
    #   I = 0.8, S = (0.8 + 0.3) + 1 = 2.1 -> dice = 1.6 / 2.1 = 16/21
    p = torch.tensor([0.8, 0.3, 0.6], dtype=torch.float64)
    logits = torch.log(p / (1 - p))[None, None, None, :]  # (1, 1, 1, 3)
    target = torch.tensor([[[1, 0, IGN]]])
    assert soft_dice_loss(logits, target, smooth=0.0).item() == pytest.approx(5 / 21)
    bce = seg_cross_entropy(logits, target, IGN)
    assert bce.item() == pytest.approx((-math.log(0.8) - math.log(0.7)) / 2)


def test_dice_gradcheck():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 3, (2, 4, 4))
    target[0, 0, :2] = IGN
    assert torch.autograd.gradcheck(lambda z: soft_dice_loss(z, target, smooth=1.0), (logits,))


def test_ce_equals_torch_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 6, 7)
    target = torch.randint(0, 5, (3, 6, 7))
    target[0, :2] = IGN
    expected = F.cross_entropy(logits, target, ignore_index=IGN)
    torch.testing.assert_close(seg_cross_entropy(logits, target, IGN), expected)


def test_ce_binary_equals_torch_bce():
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 4, 5)
    target = torch.randint(0, 2, (2, 4, 5))
    expected = F.binary_cross_entropy_with_logits(logits[:, 0], target.float())
    torch.testing.assert_close(seg_cross_entropy(logits, target, IGN), expected)


def test_all_ignored_batch_gives_zero_not_nan():
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    target = torch.full((1, 2, 2), IGN)
    out = SegLoss(num_classes=3, ignore_index=IGN)(logits, target)
    assert out["ce"].item() == 0.0 and out["dice"].item() == pytest.approx(0.0)
    out["loss"].backward()
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("name, w_ce, w_dice", [("ce", 1, 0), ("dice", 0, 1), ("ce_dice", 1, 1)])
def test_build_loss_weights(name, w_ce, w_dice):
    torch.manual_seed(0)
    cfg = LossConfig(name=name, ce_weight=0.3, dice_weight=2.0, dice_smooth=1.0)
    loss_fn = build_loss(cfg, num_classes=4, ignore_index=IGN)
    logits = torch.randn(2, 4, 8, 8, requires_grad=True)
    target = torch.randint(0, 4, (2, 8, 8))
    target[:, 0] = IGN
    out = loss_fn(logits, target)
    assert set(out) == {"loss", "ce", "dice"}
    assert all(v.dim() == 0 and v.dtype == torch.float32 for v in out.values())
    ce = F.cross_entropy(logits, target, ignore_index=IGN)
    dice = soft_dice_loss(logits, target, ignore_index=IGN, smooth=1.0)
    torch.testing.assert_close(out["ce"], ce)
    torch.testing.assert_close(out["dice"], dice)
    torch.testing.assert_close(out["loss"], 0.3 * w_ce * ce + 2.0 * w_dice * dice)
    assert out["ce"].requires_grad == bool(w_ce) and out["dice"].requires_grad == bool(w_dice)


def test_loss_errors_say_what_to_change():
    loss_fn = SegLoss(num_classes=3, ignore_index=IGN)
    logits = torch.randn(1, 3, 2, 2)
    with pytest.raises(ValueError, match=r"labels \[3, 7\].*model.num_classes"):
        loss_fn(logits, torch.tensor([[[0, 3], [7, IGN]]]))
    with pytest.raises(ValueError, match="target must be"):
        loss_fn(logits, torch.zeros(1, 3, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="mask.long"):
        loss_fn(logits, torch.zeros(1, 2, 2, dtype=torch.int32))
    with pytest.raises(ValueError, match="valid names: ce, dice, ce_dice"):
        build_loss(LossConfig(name="focal"), 3, IGN)


def test_amp_dtype_logits_give_float32_losses():
    logits = torch.randn(2, 3, 4, 4).bfloat16()
    out = SegLoss(num_classes=3)(logits, torch.randint(0, 3, (2, 4, 4)))
    assert all(v.dtype == torch.float32 for v in out.values())
