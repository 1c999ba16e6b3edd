"""U-Net with a transformer at the bottleneck (in the spirit of TransUNet, Chen et al., 2021).

The CNN encoder sees only local windows; at the bottleneck (stride 2**depth)
every token is a coarse patch, so global self-attention there is cheap
(N = H*W / 4**depth tokens) and lets every region see the whole image::

    b (B,C,h,w) --proj_in 1x1--> (B,D,h,w) --flatten--> tokens (B,h*w,D)
        + 2D positional code (1,h*w,D)
        -> N pre-LN blocks -> LayerNorm -> (B,h*w,D) --unflatten--> (B,D,h,w)
        --proj_out 1x1--> (B,C,h,w);  output = b + that   (residual around the transformer)

Design choice, the outer residual: the decoder always receives the CNN features
unchanged plus a learned global-context correction that starts at zero, so at
initialisation the hybrid computes exactly the plain U-Net and the transformer only
has to learn what the convolutions miss. With ``project=True`` the zero is
``proj_out`` (a zero 1x1 conv); with ``project=False`` (D must equal C, both
projections are identities) it is the closing LayerNorm's affine weight and bias,
zero-initialised (the "zero-init the last layer of a residual branch" trick of
Goyal et al., 2017). Either way the zero layer's own gradient is non-zero
(normalised tokens x upstream gradient), so it leaves zero at the first step and the
transformer behind it starts learning from the second.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from src.models.pos_encoding import build_pos_encoding
from src.models.transformer import TransformerEncoder
from src.models.unet import UNet


class BottleneckTransformer(nn.Module):
    """(B, C, h, w) feature map -> tokens -> transformer -> (B, C, h, w), with an outer residual."""

    def __init__(
        self,
        *,
        channels: int,
        embed_dim: int,
        num_layers: int,
        num_heads: int,
        mlp_ratio: float = 2.0,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        pos_encoding: str = "sinusoidal",
        pos_max_size: int = 8,
        project: bool = True,
        attention_impl: str = "math",
    ) -> None:
        super().__init__()
        if not project and embed_dim != channels:
            raise ValueError(
                f"model.transformer.project=false needs embed_dim == bottleneck channels "
                f"(base_channels * 2**depth = {channels}), got embed_dim={embed_dim}; "
                f"set model.transformer.embed_dim={channels} or project=true"
            )
        if embed_dim % num_heads:
            raise ValueError(
                f"model.transformer.embed_dim={embed_dim} is not divisible by num_heads={num_heads}; "
                f"choose num_heads among the divisors of {embed_dim}"
            )
        self.channels = channels
        self.embed_dim = embed_dim
        self.proj_in: nn.Module = nn.Conv2d(channels, embed_dim, kernel_size=1) if project else nn.Identity()
        self.pos_enc = build_pos_encoding(pos_encoding, embed_dim, pos_max_size)
        self.encoder = TransformerEncoder(
            num_layers=num_layers,
            dim=embed_dim,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            attn_dropout=attn_dropout,
            attention_impl=attention_impl,
        )
        self.proj_out: nn.Module = nn.Conv2d(embed_dim, channels, kernel_size=1) if project else nn.Identity()
        # Zero init: the block starts as the identity map (b + 0), i.e. the plain U-Net.
        last = self.proj_out if project else self.encoder.norm
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, b: torch.Tensor) -> torch.Tensor:
        """Bottleneck features (B, C, h, w) -> (B, C, h, w)."""
        _, c, h, w = b.shape
        if c != self.channels:
            raise ValueError(f"expected bottleneck features (B, {self.channels}, h, w), got {tuple(b.shape)}")
        z = self.proj_in(b)  # (B, D, h, w)
        tokens = z.flatten(2).transpose(1, 2)  # (B, N, D), N = h*w in row-major order
        tokens = tokens + self.pos_enc(h, w, tokens.device).to(tokens.dtype)  # (B, N, D)
        tokens = self.encoder(tokens)  # (B, N, D)
        z = tokens.transpose(1, 2).reshape(b.shape[0], self.embed_dim, h, w)  # (B, D, h, w)
        return b + self.proj_out(z)  # (B, C, h, w)


class UNetTransformer(UNet):
    """U-Net whose bottleneck is a BottleneckTransformer: forward(x (B, C_in, H, W)) -> logits (B, K, H, W)."""

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_classes: int = 4,
        base_channels: int = 16,
        depth: int = 3,
        norm: str = "batch",
        upsample: str = "transpose",
        embed_dim: int = 128,
        num_layers: int = 2,
        num_heads: int = 4,
        mlp_ratio: float = 2.0,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        pos_encoding: str = "sinusoidal",
        pos_max_size: int = 8,
        project: bool = True,
        attention_impl: str = "math",
    ) -> None:
        super().__init__(
            in_channels=in_channels,
            num_classes=num_classes,
            base_channels=base_channels,
            depth=depth,
            norm=norm,
            upsample=upsample,
        )
        self.bottleneck = BottleneckTransformer(
            channels=self.bottleneck_channels,
            embed_dim=embed_dim,
            num_layers=num_layers,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            attn_dropout=attn_dropout,
            pos_encoding=pos_encoding,
            pos_max_size=pos_max_size,
            project=project,
            attention_impl=attention_impl,
        )
    # forward, encode, decode and the grad_checkpointing flag come from UNet; the flag
    # reaches self.bottleneck.encoder through UNet's setter.
