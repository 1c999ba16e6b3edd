"""Encoder-only CTC model (seed 004's "encoder-only" baseline): encoder + linear CTC head.

With ``model.encoder.inter_ctc_layers`` the same head also scores those encoder layers
(intermediate CTC, optionally self-conditioned; src/models/encoder.py), and the loss is

    loss = (1 - w) CTC(final) + w mean_l CTC(layer l),        w = model.inter_ctc_weight.
"""

from __future__ import annotations

import torch
from torch import nn

from src.decode.hypothesis import Hypothesis
from src.decode.methods import GREEDY_METHODS, check_decode_method, ctc_head_decode, ctc_head_log_probs
from src.losses.ctc import ctc_loss
from src.models.encoder import Encoder
from src.utils.config import ModelConfig


class CTCModel(nn.Module):
    beam_is_ctc_prefix_search = True  # its "beam" is the CTC prefix beam search (an LM can be fused)

    def __init__(self, cfg: ModelConfig, *, vocab_size: int, input_dim: int, ctc_impl: str = "ours") -> None:
        super().__init__()
        self.subsampling = cfg.subsampling
        self.ctc_impl = ctc_impl
        assert 0.0 <= cfg.inter_ctc_weight <= 1.0, f"model.inter_ctc_weight={cfg.inter_ctc_weight} must lie in [0, 1]"
        self.inter_ctc_weight = cfg.inter_ctc_weight
        self.encoder = Encoder.from_config(
            cfg.encoder, input_dim=input_dim, d_model=cfg.d_model, subsampling=cfg.subsampling, attention_impl=cfg.attention_impl,
            subsampling_channels=cfg.subsampling_channels, vocab_size=vocab_size,
        )
        self.ctc_head = nn.Linear(cfg.d_model, vocab_size)

    @property
    def grad_checkpointing(self) -> bool:
        return self.encoder.grad_checkpointing

    @grad_checkpointing.setter
    def grad_checkpointing(self, on: bool) -> None:
        self.encoder.grad_checkpointing = on

    def ctc_log_probs(self, feats: torch.Tensor, feat_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """feats (B, T, F) -> (log-probs (B, T', V), enc_lens (B,))."""
        return ctc_head_log_probs(self, feats, feat_lens)

    def forward(self, feats: torch.Tensor, feat_lens: torch.Tensor, tokens: torch.Tensor, token_lens: torch.Tensor) -> dict[str, torch.Tensor]:
        """feats (B, T, F), feat_lens (B,), tokens (B, L), token_lens (B,) -> {"loss", "ctc"} (+ "inter_ctc")."""
        enc, enc_lens, inter = self.encoder(feats, feat_lens, ctc_head=self.ctc_head, return_inter=True)  # (B, T', D)
        log_probs = torch.log_softmax(self.ctc_head(enc).float(), dim=-1)  # (B, T', V)
        ctc = ctc_loss(log_probs, tokens, enc_lens, token_lens, impl=self.ctc_impl)
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
