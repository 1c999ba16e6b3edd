"""Model family, chosen by ``model.name``: paraformer, ctc, transformer_ar."""

from __future__ import annotations

from torch import nn

from src.models.ctc_model import CTCModel
from src.models.paraformer import Paraformer
from src.models.transformer_ar import TransformerAR
from src.utils.config import ConfigError, ExperimentConfig

MODEL_REGISTRY: dict[str, type[nn.Module]] = {
    "paraformer": Paraformer,
    "ctc": CTCModel,
    "transformer_ar": TransformerAR,
}


def build_model(cfg: ExperimentConfig, vocab_size: int, input_dim: int) -> nn.Module:
    """The model named by ``cfg.model.name``, with CTC computed by ``cfg.loss.ctc_impl``."""
    name = cfg.model.name
    assert name in MODEL_REGISTRY, f"model.name={name!r} is unknown; valid names: {', '.join(MODEL_REGISTRY)}"
    if name != "ctc" and (cfg.model.encoder.inter_ctc_layers or cfg.model.encoder.self_conditioning):
        raise ConfigError(
            f"model.encoder.inter_ctc_layers / self_conditioning are read by model.name: ctc only (got {name!r}); "
            "leave them at [] / false"
        )
    if name != "ctc" and cfg.model.ctc_upsample != 1:
        raise ConfigError(f"model.ctc_upsample={cfg.model.ctc_upsample} is read by model.name: ctc only (got {name!r}); leave it at 1")
    model = MODEL_REGISTRY[name](cfg.model, vocab_size=vocab_size, input_dim=input_dim, ctc_impl=cfg.loss.ctc_impl)
    model.grad_checkpointing = cfg.training.grad_checkpointing
    return model


def seconds_per_frame(model: nn.Module, frame_shift_ms: float) -> float:
    """Seconds per frame of ``Hypothesis.token_frames``: the encoder frame (subsampling x frame shift),
    split into ``model.ctc_upsample`` CTC frames for the CTC model with an upsampled head."""
    return model.subsampling * frame_shift_ms / 1000.0 / getattr(model, "ctc_upsample", 1)


__all__ = ["MODEL_REGISTRY", "build_model", "seconds_per_frame", "Paraformer", "CTCModel", "TransformerAR"]
