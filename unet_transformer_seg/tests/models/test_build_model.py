"""The model registry: every name builds from ModelConfig and honours the shared contract."""

import dataclasses

import pytest
import torch

from src.models import MODEL_REGISTRY, UNet, UNetTransformer, build_model
from src.utils.config import ModelConfig, TransformerConfig


def _tiny(name: str) -> ModelConfig:
    return ModelConfig(
        name=name, num_classes=4, base_channels=4, depth=2,
        transformer=TransformerConfig(num_layers=1, num_heads=2, embed_dim=8),
    )


@pytest.mark.parametrize("name", sorted(MODEL_REGISTRY))
def test_contract(name):
    model = build_model(_tiny(name))
    assert model.grad_checkpointing is False
    model.grad_checkpointing = True
    assert model.grad_checkpointing is True
    logits = model(torch.randn(2, 3, 16, 16))
    assert logits.shape == (2, 4, 16, 16) and logits.dtype == torch.float32


def test_names_map_to_classes():
    assert type(build_model(_tiny("unet"))) is UNet
    assert type(build_model(_tiny("unet_transformer"))) is UNetTransformer


def test_config_reaches_the_model():
    cfg = dataclasses.replace(_tiny("unet_transformer"), norm="group", upsample="bilinear", attention_impl="sdpa")
    cfg.transformer.pos_encoding = "learned"
    model = build_model(cfg)
    assert isinstance(model.inc.block[1], torch.nn.GroupNorm)
    assert model.up1.mode == "bilinear"
    assert model.bottleneck.encoder.blocks[0].attn.impl == "sdpa"
    assert model.bottleneck.pos_enc.max_size == cfg.transformer.pos_max_size


def test_unknown_name_lists_valid_ones():
    cfg = dataclasses.replace(_tiny("unet"), name="segformer")
    with pytest.raises(ValueError, match="valid names: unet, unet_transformer"):
        build_model(cfg)
