"""Soft Dice loss (Milletari et al., 2016, V-Net, Eq. 1), multi-class with softmax or binary with sigmoid.

Dice of a predicted set P and a true set G is 2|P n G| / (|P| + |G|). The soft
version replaces the sets by per-pixel probabilities p (prediction) and g (one-hot
target) so that it is differentiable:

    dice_k = (2 * sum_i p_ik g_ik + s) / (sum_i p_ik + sum_i g_ik + s),   loss = 1 - mean_k dice_k

The sums run over every labelled pixel of the whole batch ("batch Dice", as
nnU-Net's ``batch_dice``): a class missing from one image does not give that
image a 0/0 term, and small structures are not over-weighted image by image.
Pixels whose target is ``ignore_index`` are removed from both the numerator and
the denominator (p and g are both zeroed there), so they neither help nor hurt.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _smoothed_dice(intersection: torch.Tensor, denominator: torch.Tensor, smooth: float) -> torch.Tensor:
    """(2I + s) / (S + s) per class, with S = sum p + sum g.

    Why the smoothing s:
    * A class absent from the target and predicted with ~0 probability has I = S = 0;
      the ratio would be 0/0. With s it is s/s = 1: "nothing there, nothing predicted"
      is a perfect score and costs no loss.
    * d dice / d p_i = (2 g_i (S + s) - (2I + s)) / (S + s)**2 blows up as S -> 0;
      s bounds that gradient for rare classes.
    * For a class that is present, S counts pixels over the whole batch, so s = 1
      shifts the value by about 1/S only.
    With s = 0 we define an exact 0/0 (e.g. every pixel ignored) as 1, the same limit.
    Softmax probabilities are never exactly 0, though, so with s = 0 an absent class
    scores 0 / (tiny) = 0 and costs a full 1/K of loss: keep s > 0.
    """
    dice = (2 * intersection + smooth) / (denominator + smooth).clamp_min(1e-12)  # (K,)
    if smooth == 0:
        dice = torch.where(denominator > 0, dice, torch.ones_like(dice))
    return dice


def soft_dice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    ignore_index: int = 255,
    smooth: float = 1.0,
    include_background: bool = True,
) -> torch.Tensor:
    """1 - mean soft Dice over classes.

    Args:
        logits: (B, K, H, W) float. K > 1: softmax over classes; K = 1: one sigmoid
            logit, and the Dice is that of the foreground (target == 1) only.
        target: (B, H, W) int64 in [0, K) ({0, 1} when K = 1) or ``ignore_index``.
        include_background: K > 1 only; False leaves class 0 out of the mean.
    Returns:
        scalar float in [0, 1].
    """
    if smooth < 0:
        raise ValueError(f"loss.dice_smooth must be >= 0, got {smooth}")
    k = logits.shape[1]
    valid = (target != ignore_index).unsqueeze(1)  # (B, 1, H, W)
    if k == 1:
        probs = torch.sigmoid(logits)  # (B, 1, H, W): P(foreground)
        onehot = (target == 1).unsqueeze(1).to(probs.dtype)  # (B, 1, H, W)
    else:
        probs = logits.softmax(dim=1)  # (B, K, H, W)
        # Ignored pixels get a placeholder class 0 here; the valid mask zeroes them next.
        safe_target = torch.where(valid[:, 0], target, torch.zeros_like(target))  # (B, H, W)
        onehot = F.one_hot(safe_target, k).permute(0, 3, 1, 2).to(probs.dtype)  # (B, K, H, W)
    probs = probs * valid  # (B, K, H, W): ignored pixels leave numerator and denominator
    onehot = onehot * valid
    dims = (0, 2, 3)  # sum over batch and pixels, keep classes
    intersection = (probs * onehot).sum(dims)  # (K,)
    denominator = probs.sum(dims) + onehot.sum(dims)  # (K,)
    dice = _smoothed_dice(intersection, denominator, smooth)  # (K,)
    if k > 1 and not include_background:
        dice = dice[1:]  # (K-1,)
    return 1 - dice.mean()
