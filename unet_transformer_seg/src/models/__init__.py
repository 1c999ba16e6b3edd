"""Segmentation models, chosen by ``model.name``: ``build_model(cfg.model)``.

Every model maps images (B, C_in, H, W) float to logits (B, K, H, W) float and has a
``grad_checkpointing`` attribute the trainer may set (``model.grad_checkpointing = True``).
"""

from __future__ import annotations

from typing import Callable

import torch.nn as nn

from src.models.unet import UNet
from src.models.unet_transformer import UNetTransformer
from src.utils.config import ModelConfig


def _unet_kwargs(cfg: ModelConfig) -> dict:
    return dict(
        in_channels=cfg.in_channels,
        num_classes=cfg.num_classes,
        base_channels=cfg.base_channels,
        depth=cfg.depth,
        norm=cfg.norm,
        upsample=cfg.upsample,
    )


def _build_unet(cfg: ModelConfig) -> nn.Module:
    return UNet(**_unet_kwargs(cfg))


def _build_unet_transformer(cfg: ModelConfig) -> nn.Module:
    t = cfg.transformer
    return UNetTransformer(
        **_unet_kwargs(cfg),
        embed_dim=t.embed_dim,
        num_layers=t.num_layers,
        num_heads=t.num_heads,
        mlp_ratio=t.mlp_ratio,
        dropout=t.dropout,
        attn_dropout=t.attn_dropout,
        pos_encoding=t.pos_encoding,
        pos_max_size=t.pos_max_size,
        project=t.project,
        attention_impl=cfg.attention_impl,
    )


MODEL_REGISTRY: dict[str, Callable[[ModelConfig], nn.Module]] = {
    "unet": _build_unet,
    "unet_transformer": _build_unet_transformer,
}


def build_model(cfg: ModelConfig) -> nn.Module:
    """The model named by ``cfg.name``, built from the rest of ``cfg``."""
    if cfg.name not in MODEL_REGISTRY:
        raise ValueError(f"unknown model.name {cfg.name!r}; valid names: {', '.join(sorted(MODEL_REGISTRY))}")
    return MODEL_REGISTRY[cfg.name](cfg)


__all__ = ["MODEL_REGISTRY", "UNet", "UNetTransformer", "build_model"]
