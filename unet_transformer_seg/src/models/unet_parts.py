"""The U-Net's building blocks (Ronneberger et al., 2015, Fig. 1): DoubleConv, Down, Up, OutConv.

``unet.py`` assembles them. Every block keeps H and W except Down (halves them)
and Up (doubles them), so the assembly only has to track channels.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

NORMS = ("batch", "group")
UPSAMPLES = ("transpose", "bilinear")


def make_norm(kind: str, channels: int) -> nn.Module:
    """BatchNorm2d, or GroupNorm with up to 8 groups (the largest count that divides ``channels``)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        # GroupNorm does not depend on the batch size, so it suits tiny batches
        # (and gradient accumulation) where BatchNorm's statistics get noisy.
        groups = max(g for g in range(1, 9) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    raise ValueError(f"unknown norm {kind!r}; set model.norm to one of: {', '.join(NORMS)}")


class DoubleConv(nn.Module):
    """(3x3 conv -> norm -> ReLU) twice; the blue arrows of the U-Net figure."""

    def __init__(self, in_channels: int, out_channels: int, norm: str = "batch") -> None:
        super().__init__()
        # The convs have no bias: the norm right after them subtracts the mean anyway.
        self.block = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            make_norm(norm, out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            make_norm(norm, out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H, W)."""
        return self.block(x)


class Down(nn.Module):
    """2x2 max-pool then DoubleConv; the red arrow followed by the blue ones."""

    def __init__(self, in_channels: int, out_channels: int, norm: str = "batch") -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.conv = DoubleConv(in_channels, out_channels, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H/2, W/2)."""
        x = self.pool(x)  # (B, C_in, H/2, W/2)
        return self.conv(x)  # (B, C_out, H/2, W/2)


class Up(nn.Module):
    """Upsample x2, concatenate the encoder's skip, then DoubleConv; the green and grey arrows.

    Both upsampling modes halve the channels before the concatenation, so the
    channel arithmetic is the same for either: ``transpose`` learns a 2x2 stride-2
    transposed conv (the paper's "up-conv 2x2"); ``bilinear`` interpolates and
    then mixes channels with a 1x1 conv, which avoids the checkerboard artefacts
    transposed convs can produce.
    """

    def __init__(
        self, in_channels: int, skip_channels: int, out_channels: int, mode: str = "transpose", norm: str = "batch"
    ) -> None:
        super().__init__()
        if mode not in UPSAMPLES:
            raise ValueError(f"unknown upsample mode {mode!r}; set model.upsample to one of: {', '.join(UPSAMPLES)}")
        self.mode = mode
        half = in_channels // 2
        if mode == "transpose":
            self.up = nn.ConvTranspose2d(in_channels, half, kernel_size=2, stride=2)
        else:
            self.up = nn.Conv2d(in_channels, half, kernel_size=1)
        self.conv = DoubleConv(half + skip_channels, out_channels, norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """x (B, C_in, H, W), skip (B, C_skip, 2H, 2W) -> (B, C_out, 2H, 2W)."""
        if self.mode == "bilinear":
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)  # (B, C_in, 2H, 2W)
        x = self.up(x)  # (B, C_in/2, 2H, 2W)
        # No cropping or padding is needed: UNet.forward checks that H and W divide
        # by 2**depth, so every pooled size is exact and the skip matches.
        x = torch.cat([skip, x], dim=1)  # (B, C_skip + C_in/2, 2H, 2W)
        return self.conv(x)  # (B, C_out, 2H, 2W)


class OutConv(nn.Module):
    """1x1 conv from features to per-class logits."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, K, H, W)."""
        return self.conv(x)
