"""Encoder-only CTC model (seed 004's "encoder-only" baseline): encoder + linear CTC head.

With ``model.encoder.inter_ctc_layers`` the same head also scores those encoder layers
(intermediate CTC, optionally self-conditioned; src/models/encoder.py), and the loss is

    loss = (1 - w) CTC(final) + w mean_l CTC(layer l),        w = model.inter_ctc_weight.

With ``model.ctc_upsample`` U > 1 the head maps each encoder frame to U CTC frames
(:class:`UpsampledCTCHead`), so the alignment has U T' frames where the encoder has T'.
CTC needs a frame per label and a blank between equal neighbours, L + repeats <= T'; at x4
subsampling of 10 ms frames an encoder frame lasts 40 ms, and English letters come at
15-20 per second, several on one frame in a fast syllable ("ought", "ll"). Splitting the
frame's state into U frames of logits (Libovicky & Helcl 2018, "End-to-End Non-Autoregressive
Neural Machine Translation with Connectionist Temporal Classification", section 3) lifts that
limit at the cost of a wider head, while the encoder keeps its frame rate.
"""

from __future__ import annotations

import torch
from torch import nn

from src.decode.hypothesis import Hypothesis
from src.decode.methods import GREEDY_METHODS, check_decode_method, ctc_head_decode, ctc_head_log_probs
from src.losses.ctc import ctc_loss
from src.models.encoder import Encoder
from src.utils.config import ModelConfig


class UpsampledCTCHead(nn.Module):
    """(B, T', D) -> (B, U T', V) logits: one Linear D -> U V, then each frame's U V outputs
    become U consecutive frames, frame u of encoder frame t at index U t + u."""

    def __init__(self, d_model: int, vocab_size: int, upsample: int) -> None:
        super().__init__()
        self.upsample, self.vocab_size = upsample, vocab_size
        self.proj = nn.Linear(d_model, upsample * vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return self.proj(x).reshape(b, t * self.upsample, self.vocab_size)


class CTCModel(nn.Module):
    beam_is_ctc_prefix_search = True  # its "beam" is the CTC prefix beam search (an LM can be fused)

    def __init__(self, cfg: ModelConfig, *, vocab_size: int, input_dim: int, ctc_impl: str = "ours") -> None:
        super().__init__()
        self.subsampling = cfg.subsampling
        self.ctc_impl = ctc_impl
        assert 0.0 <= cfg.inter_ctc_weight <= 1.0, f"model.inter_ctc_weight={cfg.inter_ctc_weight} must lie in [0, 1]"
        self.inter_ctc_weight = cfg.inter_ctc_weight
        assert cfg.ctc_upsample >= 1, f"model.ctc_upsample={cfg.ctc_upsample} must be 1 (one CTC frame per encoder frame) or more"
        assert cfg.ctc_upsample == 1 or not cfg.encoder.inter_ctc_layers, (
            f"model.ctc_upsample={cfg.ctc_upsample} with model.encoder.inter_ctc_layers: the intermediate layers and "
            "self-conditioning read the head per encoder frame; use one of the two"
        )
        self.ctc_upsample = cfg.ctc_upsample  # CTC frames per encoder frame
        self.encoder = Encoder.from_config(
            cfg.encoder, input_dim=input_dim, d_model=cfg.d_model, subsampling=cfg.subsampling, attention_impl=cfg.attention_impl,
            subsampling_channels=cfg.subsampling_channels, vocab_size=vocab_size,
        )
        self.ctc_head = nn.Linear(cfg.d_model, vocab_size) if cfg.ctc_upsample == 1 else UpsampledCTCHead(cfg.d_model, vocab_size, cfg.ctc_upsample)

    @property
    def grad_checkpointing(self) -> bool:
        return self.encoder.grad_checkpointing

    @grad_checkpointing.setter
    def grad_checkpointing(self, on: bool) -> None:
        self.encoder.grad_checkpointing = on

    def ctc_log_probs(self, feats: torch.Tensor, feat_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """feats (B, T, F) -> (log-probs (B, U T', V), their lengths U enc_lens (B,)); U = model.ctc_upsample."""
        return ctc_head_log_probs(self, feats, feat_lens)

    def forward(self, feats: torch.Tensor, feat_lens: torch.Tensor, tokens: torch.Tensor, token_lens: torch.Tensor) -> dict[str, torch.Tensor]:
        """feats (B, T, F), feat_lens (B,), tokens (B, L), token_lens (B,) -> {"loss", "ctc"} (+ "inter_ctc")."""
        enc, enc_lens, inter = self.encoder(feats, feat_lens, ctc_head=self.ctc_head, return_inter=True)  # (B, T', D)
        log_probs = torch.log_softmax(self.ctc_head(enc).float(), dim=-1)  # (B, U T', V)
        ctc = ctc_loss(log_probs, tokens, enc_lens * self.ctc_upsample, token_lens, impl=self.ctc_impl)
        if not inter:
            return {"loss": ctc, "ctc": ctc}
        inter_ctc = torch.stack([ctc_loss(lp, tokens, enc_lens, token_lens, impl=self.ctc_impl) for lp in inter]).mean()
        w = self.inter_ctc_weight
        return {"loss": (1.0 - w) * ctc + w * inter_ctc, "ctc": ctc, "inter_ctc": inter_ctc}

    @torch.no_grad()
    def decode(self, feats: torch.Tensor, feat_lens: torch.Tensor, *, method: str = "greedy", beam_size: int = 4, **opts: float) -> list[Hypothesis]:
        """Greedy = CTC best path; beam = CTC prefix beam search (top hypothesis).

        ``ctc_greedy`` and ``ctc_beam`` (src/decode/methods.py) are the same two here.
        ``opts["vtln"]`` (a :class:`~src.decode.vtln.VTLNSearch`) decodes each utterance
        under its best warp factor.
        """
        check_decode_method(self, method, lm=opts.get("lm"))
        vtln = opts.pop("vtln", None)  # src/decode/vtln.py: the best of several warp factors per utterance
        if vtln is None:
            log_probs, enc_lens = self.ctc_log_probs(feats, feat_lens)  # (B, T', V)
        else:
            log_probs, enc_lens, _ = vtln.log_probs(self, feats, feat_lens)  # (B, T', V)
        return ctc_head_decode(log_probs, enc_lens, "ctc_greedy" if method in GREEDY_METHODS else "ctc_beam", beam_size, **opts)
