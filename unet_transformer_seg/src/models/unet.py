"""The U-Net (Ronneberger et al., 2015) with configurable depth, width, norm and upsampling.

Layout for depth=3 and base channels c (sizes for a 64x64 input)::

    x (B,3,64,64)
      inc    -> (B,c,64,64)   --------------------------------------------- skip0 ---+
      down1  -> (B,2c,32,32)  ------------------------------- skip1 ---+             |
      down2  -> (B,4c,16,16)  ----------------- skip2 ---+             |             |
      down3  -> (B,8c,8,8)                               |             |             |
      bottleneck (identity here; a transformer in UNetTransformer)     |             |
      up1    (8c + skip2) -> (B,4c,16,16) <--------------+             |             |
      up2    (4c + skip1) -> (B,2c,32,32) <----------------------------+             |
      up3    (2c + skip0) -> (B,c,64,64)  <------------------------------------------+
      outc   -> logits (B,K,64,64)

The blocks are registered as ``inc``, ``down1..down{depth}``, ``up1..up{depth}`` and
``outc`` so that the names match the paper's figure. ``encode``/``decode`` expose the
two halves and ``bottleneck`` is an overridable module, which is how
``UNetTransformer`` reuses this class.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from src.models.unet_parts import NORMS, UPSAMPLES, DoubleConv, Down, OutConv, Up


class UNet(nn.Module):
    """Plain U-Net: forward(x (B, C_in, H, W)) -> logits (B, K, H, W)."""

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_classes: int = 4,
        base_channels: int = 16,
        depth: int = 3,
        norm: str = "batch",
        upsample: str = "transpose",
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"model.depth must be >= 1, got {depth}")
        if num_classes < 1:
            raise ValueError(f"model.num_classes must be >= 1 (use 1 for a single sigmoid output), got {num_classes}")
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; set model.norm to one of: {', '.join(NORMS)}")
        if upsample not in UPSAMPLES:
            raise ValueError(f"unknown upsample {upsample!r}; set model.upsample to one of: {', '.join(UPSAMPLES)}")
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.depth = depth
        # Channel width at encoder level i (0 = after inc); doubled at each down step.
        widths = [base_channels * 2**i for i in range(depth + 1)]
        self.bottleneck_channels = widths[-1]

        self.inc = DoubleConv(in_channels, widths[0], norm)
        for i in range(1, depth + 1):
            self.add_module(f"down{i}", Down(widths[i - 1], widths[i], norm))
        # Overridden by subclasses (UNetTransformer) to process the deepest features.
        self.bottleneck: nn.Module = nn.Identity()
        for i in range(1, depth + 1):
            level = depth - i  # encoder level whose skip this up step consumes
            self.add_module(f"up{i}", Up(widths[level + 1], widths[level], widths[level], upsample, norm))
        self.outc = OutConv(widths[0], num_classes)
        self._grad_checkpointing = False

    @property
    def grad_checkpointing(self) -> bool:
        """Activation checkpointing of the transformer blocks (trainer sets ``model.grad_checkpointing = True``).

        The plain U-Net has no checkpointed blocks, so here the flag changes nothing:
        recomputing a BatchNorm layer in the backward pass would update its running
        statistics a second time, and the conv activations are cheap at these sizes.
        """
        return self._grad_checkpointing

    @grad_checkpointing.setter
    def grad_checkpointing(self, enabled: bool) -> None:
        self._grad_checkpointing = bool(enabled)
        # Hand the flag to every submodule that supports it (the transformer stack).
        for module in self.modules():
            if module is not self and hasattr(module, "grad_checkpointing"):
                module.grad_checkpointing = bool(enabled)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ValueError that says what to change when ``x`` is not (B, C_in, H, W) with H, W % 2**depth == 0."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"expected images of shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}; "
                f"model.in_channels={self.in_channels}"
            )
        m = 2**self.depth
        h, w = x.shape[-2:]
        for name, size in (("height", h), ("width", w)):
            if size % m:
                raise ValueError(
                    f"image {name} {size} is not divisible by 2**depth={m}; use a multiple of {m} "
                    f"(e.g. {max(m, size // m * m)}) or a smaller model.depth"
                )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (B, C_in, H, W) -> (deepest features (B, C_b, H/2**depth, W/2**depth), skips shallow-first)."""
        x = self.inc(x)  # (B, c, H, W)
        skips = [x]
        for i in range(1, self.depth + 1):
            x = getattr(self, f"down{i}")(x)  # (B, c*2**i, H/2**i, W/2**i)
            skips.append(x)
        return skips.pop(), skips  # the deepest map is the bottleneck input, not a skip

    def decode(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        """Bottleneck features (B, C_b, h, w) and the skips from ``encode`` -> logits (B, K, H, W)."""
        for i in range(1, self.depth + 1):
            x = getattr(self, f"up{i}")(x, skips[-i])  # (B, C_b/2**i, h*2**i, w*2**i)
        return self.outc(x)  # (B, K, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C_in, H, W) float, H and W multiples of 2**depth -> logits (B, K, H, W) float."""
        self.check_input(x)
        b, skips = self.encode(x)  # (B, C_b, h, w)
        b = self.bottleneck(b)  # (B, C_b, h, w)
        return self.decode(b, skips)  # (B, K, H, W)
