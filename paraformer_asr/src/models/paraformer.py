"""Paraformer (Gao et al. 2022, arXiv:2206.08317): encoder + CIF predictor + NAR decoder (+ CTC head).

    feats (B,T,F) -> Encoder -> H (B,T',D) -> CIF -> E_a (B,L,D) -> [GLM mix] -> NAR decoder -> (B,L,V)
                                  \\-> CTC head (B,T',V)   (optional, model.ctc_weight > 0)

Loss (the only place terms are weighted; w = model.ctc_weight, m = model.mae_weight):
    loss = (1 - w) * att + m * mae + w * ctc
att = label-smoothed CE of the (second, glanced) decoder pass, mae = |sum(alpha) / beta - L|
(beta = predictor.threshold: one token is beta of CIF weight).
During ``training.ctc_warmup_steps`` the loss is ctc alone: the encoder learns to align
before the predictor and decoder, which read its output, start training.
"""

from __future__ import annotations

import torch
from torch import nn

from src.decode.ctc_prefix_beam import ctc_prefix_beam_search
from src.decode.greedy import nar_greedy_search
from src.decode.hypothesis import SPECIAL_IDS, Hypothesis
from src.decode.methods import CTC_METHODS, check_decode_method, ctc_head_decode
from src.decode.rescoring import combine_scores, pick_best
from src.losses.ctc import ctc_loss, ctc_nll
from src.losses.label_smoothing import label_smoothing_loss
from src.losses.mae import mae_loss
from src.models.cif_predictor import CifPredictor
from src.models.decoder import NARDecoder
from src.models.encoder import Encoder
from src.models.glancing import glancing_sample
from src.utils.config import DecodeConfig, ModelConfig
from src.utils.masks import make_pad_mask


class Paraformer(nn.Module):
    def __init__(self, cfg: ModelConfig, *, vocab_size: int, input_dim: int, ctc_impl: str = "ours") -> None:
        super().__init__()
        self.subsampling = cfg.subsampling
        self.sampling_ratio = cfg.sampling_ratio
        self.ctc_weight = cfg.ctc_weight
        self.mae_weight = cfg.mae_weight
        self.label_smoothing = cfg.label_smoothing
        self.ctc_impl = ctc_impl
        self.encoder = Encoder.from_config(
            cfg.encoder, input_dim=input_dim, d_model=cfg.d_model, subsampling=cfg.subsampling, attention_impl=cfg.attention_impl,
            subsampling_channels=cfg.subsampling_channels,
        )
        p = cfg.predictor
        self.predictor = CifPredictor(
            d_model=cfg.d_model, conv_kernel=p.conv_kernel, threshold=p.threshold, tail_threshold=p.tail_threshold,
            dropout=p.dropout, impl=p.impl,
        )
        d = cfg.decoder
        self.decoder = NARDecoder(
            vocab_size=vocab_size, d_model=cfg.d_model, num_layers=d.num_layers, num_heads=d.num_heads,
            ffn_dim=d.ffn_dim, dropout=d.dropout, attention_impl=cfg.attention_impl,
            with_embed=cfg.sampling_ratio > 0,
        )
        self.ctc_head = nn.Linear(cfg.d_model, vocab_size) if cfg.ctc_weight > 0 else None
        self.ctc_only = False  # CTC warm-up: train the encoder alone (forward's docstring)

    @property
    def grad_checkpointing(self) -> bool:
        return self.encoder.grad_checkpointing

    @grad_checkpointing.setter
    def grad_checkpointing(self, on: bool) -> None:
        self.encoder.grad_checkpointing = on
        self.decoder.grad_checkpointing = on

    # ------------------------------------------------------------------ training
    def forward(self, feats: torch.Tensor, feat_lens: torch.Tensor, tokens: torch.Tensor, token_lens: torch.Tensor) -> dict[str, torch.Tensor]:
        """feats (B, T, F), feat_lens (B,), tokens (B, L) padded with 0, token_lens (B,) -> {"loss", "att", "mae"[, "ctc"]}.

        With ``self.ctc_only`` (set by the trainer during ``training.ctc_warmup_steps``) the
        predictor and decoder are skipped and the loss is the CTC term alone: {"loss", "ctc"}.
        """
        enc, enc_lens = self.encoder(feats, feat_lens)  # (B, T', D)
        if self.ctc_only:
            log_probs = torch.log_softmax(self.ctc_head(enc).float(), dim=-1)  # (B, T', V)
            ctc = ctc_loss(log_probs, tokens, enc_lens, token_lens, impl=self.ctc_impl)
            return {"loss": ctc, "ctc": ctc}
        cif = self.predictor(enc, enc_lens, target_lens=token_lens, max_tokens=tokens.size(1))  # E_a (B, L, D)
        dec_in = cif.acoustic_embeds
        if self.training and self.sampling_ratio > 0:
            with torch.no_grad():
                first, _ = self.decoder(cif.acoustic_embeds, token_lens, enc, enc_lens)  # (B, L, V)
            dec_in, _ = glancing_sample(
                cif.acoustic_embeds, self.decoder.embed(tokens), first.argmax(-1), tokens, token_lens, self.sampling_ratio
            )  # (B, L, D)
        logits, _ = self.decoder(dec_in, token_lens, enc, enc_lens)  # (B, L, V)
        terms = {
            "att": label_smoothing_loss(logits, tokens, token_lens, self.label_smoothing),
            "mae": mae_loss(cif.predicted_count, token_lens),  # sum(alpha) / beta vs L
        }
        if self.ctc_head is not None:
            log_probs = torch.log_softmax(self.ctc_head(enc).float(), dim=-1)  # (B, T', V)
            terms["ctc"] = ctc_loss(log_probs, tokens, enc_lens, token_lens, impl=self.ctc_impl)
        return self.weigh(terms)

    def weigh(self, terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The one place the loss terms are combined."""
        w = self.ctc_weight if "ctc" in terms else 0.0
        loss = (1.0 - w) * terms["att"] + self.mae_weight * terms["mae"]
        if "ctc" in terms:
            loss = loss + w * terms["ctc"]
        return {"loss": loss, **terms}

    @torch.no_grad()
    def cif_alphas(self, feats: torch.Tensor, feat_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unscaled per-frame CIF weights for plots: feats (B, T, F) -> (alphas (B, T'), enc_lens (B,))."""
        enc, enc_lens = self.encoder(feats, feat_lens)  # (B, T', D)
        return self.predictor.compute_alphas(enc, enc_lens), enc_lens  # (B, T')

    # ------------------------------------------------------------------ decoding
    @torch.no_grad()
    def decode(
        self, feats: torch.Tensor, feat_lens: torch.Tensor, *, method: str = "greedy", beam_size: int = 4, **opts: float
    ) -> list[Hypothesis]:
        """Greedy: one NAR pass at the CIF length. Beam: rescore candidates (src/decode/rescoring.py).
        ``ctc_greedy`` / ``ctc_beam``: the CTC head alone; predictor and decoder do not run.

        opts: ``ctc_weight`` and ``length_delta`` (defaults from DecodeConfig).
        """
        check_decode_method(self, method, lm=opts.get("lm"))
        enc, enc_lens = self.encoder(feats, feat_lens)  # (B, T', D)
        if method in CTC_METHODS:
            log_probs = torch.log_softmax(self.ctc_head(enc).float(), dim=-1)  # (B, T', V)
            return ctc_head_decode(log_probs, enc_lens, method, beam_size, **opts)
        cif = self.predictor(enc, enc_lens)  # E_a (B, N, D), N = fires
        logits, _ = self.decoder(cif.acoustic_embeds, cif.token_lens, enc, enc_lens)  # (B, N, V)
        greedy = nar_greedy_search(logits, cif.token_lens, cif.fire_frames)
        if method == "greedy":
            return greedy
        defaults = DecodeConfig()
        ctc_weight = float(opts.get("ctc_weight", defaults.ctc_weight))
        delta = int(opts.get("length_delta", defaults.length_delta))
        hyps = []
        for b in range(enc.size(0)):
            n = int(enc_lens[b])
            hyps.append(
                self._beam_one(enc[b : b + 1, :n], enc_lens[b : b + 1], int(cif.token_lens[b]), tuple(greedy[b].tokens),
                               beam_size, ctc_weight, delta)[0]
            )
        return hyps

    def _beam_one(
        self, enc: torch.Tensor, enc_len: torch.Tensor, count: int, greedy: tuple[int, ...], beam_size: int, ctc_weight: float, delta: int
    ) -> list[Hypothesis]:
        """Candidates for one utterance enc (1, T', D) -> hypotheses, best first.

        ``greedy`` (the greedy output) is always a candidate, so the pick scores at least as
        well as greedy under the rescoring (the length-N candidate below re-runs CIF with
        scaled alphas and need not equal it).
        """
        candidates: list[tuple[int, ...]] = [greedy]
        # Length candidates: decoder argmax with alpha scaled to N + k tokens.
        lengths = sorted({max(count + k, 0) for k in range(-delta, delta + 1)})
        lens_t = torch.tensor(lengths, dtype=torch.long, device=enc.device)  # (K,)
        cif = self.predictor(enc.expand(len(lengths), -1, -1), enc_len.expand(len(lengths)), target_lens=lens_t)
        logits, _ = self.decoder(cif.acoustic_embeds, lens_t, enc.expand(len(lengths), -1, -1), enc_len.expand(len(lengths)))
        for k, n in enumerate(lengths):
            candidates.append(tuple(t for t in logits[k, :n].argmax(-1).tolist() if t not in SPECIAL_IDS))
        ctc_lp = None
        if self.ctc_head is not None:
            ctc_lp = torch.log_softmax(self.ctc_head(enc).float(), dim=-1)  # (1, T', V)
            candidates += [tuple(h.tokens) for h in ctc_prefix_beam_search(ctc_lp[0], beam_size=beam_size)]
        if greedy:
            # Length bias: the empty output's decoder score is 0 (no terms), which every non-empty
            # candidate's sum of log-probs (< 0) loses to. It competes only where greedy itself
            # found nothing to say.
            candidates = [c for c in candidates if c]
        candidates = list(dict.fromkeys(candidates))  # de-duplicate, keep order
        return self._rescore(enc, enc_len, candidates, ctc_lp, ctc_weight)

    def _rescore(
        self, enc: torch.Tensor, enc_len: torch.Tensor, candidates: list[tuple[int, ...]], ctc_lp: torch.Tensor | None, ctc_weight: float
    ) -> list[Hypothesis]:
        k = len(candidates)
        lens = torch.tensor([len(c) for c in candidates], dtype=torch.long, device=enc.device)  # (K,)
        width = max(int(lens.max()), 1)
        ys = torch.zeros(k, width, dtype=torch.long, device=enc.device)  # (K, L) padded with blank
        for i, c in enumerate(candidates):
            ys[i, : len(c)] = torch.tensor(c, dtype=torch.long)
        enc_k, enc_len_k = enc.expand(k, -1, -1), enc_len.expand(k)  # (K, T', D), (K,)
        # Decoder score: CIF embeddings at each candidate's own length, as in training.
        cif = self.predictor(enc_k, enc_len_k, target_lens=lens, max_tokens=width)  # (K, L, D)
        logits, _ = self.decoder(cif.acoustic_embeds, lens, enc_k, enc_len_k)  # (K, L, V)
        tok_lp = torch.log_softmax(logits.float(), dim=-1).gather(-1, ys.unsqueeze(-1)).squeeze(-1)  # (K, L)
        valid_mask = ~make_pad_mask(lens, width)  # (K, L)
        dec_scores = tok_lp.masked_fill(~valid_mask, 0.0).sum(1)  # (K,)
        ctc_scores = None
        if ctc_lp is not None:
            ctc_scores = -ctc_nll(ctc_lp.expand(k, -1, -1), ys, enc_len_k, lens)  # (K,) log p_ctc(y | x)
        combined = combine_scores(dec_scores.double(), None if ctc_scores is None else ctc_scores.double(), lens, ctc_weight)
        frames = [cif.fire_frames[i, : len(c)].tolist() for i, c in enumerate(candidates)]
        return pick_best([list(c) for c in candidates], frames, combined)
