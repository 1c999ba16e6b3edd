"""Attention-based encoder-decoder baseline: encoder + causal AR decoder (+ optional CTC head).

Teacher forcing: input <sos> y_1 .. y_L, output y_1 .. y_L <eos> (L + 1 positions).
loss = (1 - w) * att + w * ctc with w = model.ctc_weight (CTC only when w > 0).
"""

from __future__ import annotations

import torch
from torch import nn

from src.decode.beam_search import ar_beam_search
from src.decode.greedy import ar_greedy_search
from src.decode.hypothesis import SOS_EOS_ID, Hypothesis
from src.decode.methods import CTC_METHODS, check_decode_method, ctc_head_decode
from src.losses.ctc import ctc_loss
from src.losses.label_smoothing import label_smoothing_loss
from src.models.ar_decoder import ARDecoder
from src.models.encoder import Encoder
from src.utils.config import DecodeConfig, ModelConfig


class TransformerAR(nn.Module):
    def __init__(self, cfg: ModelConfig, *, vocab_size: int, input_dim: int, ctc_impl: str = "ours") -> None:
        super().__init__()
        self.subsampling = cfg.subsampling
        self.ctc_weight = cfg.ctc_weight
        self.label_smoothing = cfg.label_smoothing
        self.ctc_impl = ctc_impl
        self.encoder = Encoder.from_config(
            cfg.encoder, input_dim=input_dim, d_model=cfg.d_model, subsampling=cfg.subsampling, attention_impl=cfg.attention_impl,
            subsampling_channels=cfg.subsampling_channels,
        )
        d = cfg.decoder
        self.decoder = ARDecoder(
            vocab_size=vocab_size, d_model=cfg.d_model, num_layers=d.num_layers, num_heads=d.num_heads,
            ffn_dim=d.ffn_dim, dropout=d.dropout, attention_impl=cfg.attention_impl,
        )
        self.ctc_head = nn.Linear(cfg.d_model, vocab_size) if cfg.ctc_weight > 0 else None

    @property
    def grad_checkpointing(self) -> bool:
        return self.encoder.grad_checkpointing

    @grad_checkpointing.setter
    def grad_checkpointing(self, on: bool) -> None:
        self.encoder.grad_checkpointing = on
        self.decoder.grad_checkpointing = on

    @staticmethod
    def add_sos_eos(tokens: torch.Tensor, token_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """tokens (B, L) -> ys_in (B, L+1) = <sos> y, ys_out (B, L+1) = y <eos>, lens (B,) = L_b + 1."""
        b, l = tokens.shape
        ys_in = torch.cat([tokens.new_full((b, 1), SOS_EOS_ID), tokens], dim=1)  # (B, L+1)
        ys_out = torch.cat([tokens, tokens.new_zeros(b, 1)], dim=1)  # (B, L+1)
        ys_out = ys_out.scatter(1, token_lens.unsqueeze(1), SOS_EOS_ID)  # <eos> right after each y
        return ys_in, ys_out, token_lens + 1

    def forward(self, feats: torch.Tensor, feat_lens: torch.Tensor, tokens: torch.Tensor, token_lens: torch.Tensor) -> dict[str, torch.Tensor]:
        """feats (B, T, F), feat_lens (B,), tokens (B, L), token_lens (B,) -> {"loss", "att"[, "ctc"]}."""
        enc, enc_lens = self.encoder(feats, feat_lens)  # (B, T', D)
        ys_in, ys_out, ys_lens = self.add_sos_eos(tokens, token_lens)  # (B, L+1) x 2
        logits, _ = self.decoder(ys_in, ys_lens, enc, enc_lens)  # (B, L+1, V)
        terms = {"att": label_smoothing_loss(logits, ys_out, ys_lens, self.label_smoothing)}
        if self.ctc_head is not None:
            log_probs = torch.log_softmax(self.ctc_head(enc).float(), dim=-1)  # (B, T', V)
            terms["ctc"] = ctc_loss(log_probs, tokens, enc_lens, token_lens, impl=self.ctc_impl)
        w = self.ctc_weight if "ctc" in terms else 0.0
        loss = (1.0 - w) * terms["att"] + (w * terms["ctc"] if "ctc" in terms else 0.0)
        return {"loss": loss, **terms}

    @torch.no_grad()
    def decode(self, feats: torch.Tensor, feat_lens: torch.Tensor, *, method: str = "greedy", beam_size: int = 4, **opts: float) -> list[Hypothesis]:
        """Greedy or beam search with the KV-cached step API.

        opts: ``max_len`` (0 = T' tokens) and ``length_penalty`` (beam), defaults from DecodeConfig.
        ``ctc_greedy`` / ``ctc_beam``: the CTC head alone (model.ctc_weight > 0); the decoder does not run.
        """
        check_decode_method(self, method, lm=opts.get("lm"))
        defaults = DecodeConfig()
        max_len = int(opts.get("max_len", defaults.max_len))
        enc, enc_lens = self.encoder(feats, feat_lens)  # (B, T', D)
        if method in CTC_METHODS:
            log_probs = torch.log_softmax(self.ctc_head(enc).float(), dim=-1)  # (B, T', V)
            return ctc_head_decode(log_probs, enc_lens, method, beam_size, **opts)
        max_lens = enc_lens.clone() if max_len <= 0 else torch.full_like(enc_lens, max_len)  # (B,)
        if method == "greedy":
            state = self.decoder.init_state(enc, enc_lens)
            return ar_greedy_search(
                self.decoder.step, state, batch_size=enc.size(0), max_lens=max_lens, sos=SOS_EOS_ID, eos=SOS_EOS_ID, device=enc.device
            )
        length_penalty = float(opts.get("length_penalty", defaults.length_penalty))
        hyps = []
        for b in range(enc.size(0)):
            n = int(enc_lens[b])
            state = self.decoder.init_state(enc[b : b + 1, :n], enc_lens[b : b + 1])
            nbest = ar_beam_search(
                self.decoder.step, state, lambda s, rows: s.select(rows),
                beam_size=beam_size, max_len=int(max_lens[b]), sos=SOS_EOS_ID, eos=SOS_EOS_ID,
                length_penalty=length_penalty, device=enc.device,
            )
            hyps.append(nbest[0])
        return hyps
