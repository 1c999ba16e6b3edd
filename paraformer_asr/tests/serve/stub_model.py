"""A tiny deterministic stand-in for the ASR models, for the service tests.

It honours the ``model.decode`` contract (per-utterance results that ignore the
padding, ``Hypothesis`` with ``token_frames``, ``subsampling``) with a random
linear layer and CTC best-path collapsing, so the service can be tested without
training. It records every decode call (method, beam size, batch size) so tests
can see how requests were batched, and can sleep to make batches form.

Also runnable: ``python -m tests.serve.stub_server`` in stub_server.py uses it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from src.data.tokenizer import CharTokenizer
from src.utils.config import ExperimentConfig, ServeConfig

FEAT_DIM = 8  # small F keeps JSON payloads in the tests tiny


@dataclass
class StubHypothesis:
    tokens: list[int]
    score: float
    token_frames: list[int] | None


class StubModel(nn.Module):
    """Mean-pool 4 frames, linear to V, argmax, collapse repeats and drop blanks."""

    subsampling = 4

    def __init__(self, feat_dim: int, vocab_size: int, *, delay_s: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.proj = nn.Linear(feat_dim, vocab_size)
        with torch.no_grad():
            self.proj.bias[0] = -0.5  # fewer blanks, so outputs are non-trivial
        self.delay_s = delay_s
        self.calls: list[tuple[str, int, int]] = []  # (method, beam_size, B)

    def decode(
        self, feats: torch.Tensor, feat_lens: torch.Tensor, *, method: str = "greedy", beam_size: int = 4, **opts: float
    ) -> list[StubHypothesis]:
        """feats (B, T, F), feat_lens (B,) -> one hypothesis per utterance."""
        assert torch.is_inference_mode_enabled(), "the service must decode under torch.inference_mode"
        self.calls.append((method, beam_size, int(feats.shape[0])))
        if self.delay_s:
            time.sleep(self.delay_s)
        hyps = []
        for b in range(feats.shape[0]):
            x = feats[b, : int(feat_lens[b])]  # (T, F), padding dropped
            t_sub = max(1, x.shape[0] // self.subsampling)
            x = torch.nn.functional.pad(x, (0, 0, 0, t_sub * self.subsampling - x.shape[0]))[: t_sub * self.subsampling]
            pooled = x.reshape(t_sub, self.subsampling, -1).mean(dim=1)  # (T', F)
            logits = self.proj(pooled)  # (T', V)
            if method == "beam":
                logits[:, :2] = float("-inf")  # a different, still deterministic answer for 'beam'
            best = logits.log_softmax(-1).max(-1)
            tokens, frames, prev = [], [], -1
            for t, i in enumerate(best.indices.tolist()):
                if i != prev and i > 1:
                    tokens.append(i)
                    frames.append(t)
                prev = i
            hyps.append(StubHypothesis(tokens, float(best.values.sum()), frames))
        return hyps


def stub_setup(
    *, audio: bool = False, delay_s: float = 0.0, **serve: object
) -> tuple[StubModel, CharTokenizer, ExperimentConfig]:
    """Model, tokenizer and config for a toy (F=8) or an audio (80 mel bins) service."""
    cfg = ExperimentConfig()
    if audio:
        cfg.data.dataset = "manifest"
        feat_dim = cfg.features.num_mel_bins
    else:
        cfg.data.feat_dim = FEAT_DIM
        feat_dim = FEAT_DIM
    cfg.serve = ServeConfig(**{**vars(ServeConfig()), **serve})
    tok = CharTokenizer.from_alphabet()
    return StubModel(feat_dim, tok.vocab_size, delay_s=delay_s), tok, cfg


def offline_decode(model: StubModel | nn.Module, feats: torch.Tensor, method: str = "greedy", beam_size: int = 4):
    """Reference: decode one (T, F) utterance on its own, outside the service."""
    with torch.inference_mode():
        return model.decode(feats[None], torch.tensor([feats.shape[0]]), method=method, beam_size=beam_size)[0]
