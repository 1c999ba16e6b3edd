"""Tiny configs and toy batches shared by the model tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

import torch

from src.data.tokenizer import CharTokenizer
from src.models import build_model
from src.training.inference import load_for_inference
from src.utils.checkpoint import save_checkpoint
from src.utils.config import ExperimentConfig, config_to_dict

VOCAB, FEAT = 12, 16


def tiny_config(name: str, **model_overrides) -> ExperimentConfig:
    cfg = ExperimentConfig()
    m = cfg.model
    m.name = name
    m.d_model = 32
    m.encoder.num_layers, m.encoder.num_heads, m.encoder.ffn_dim, m.encoder.conv_kernel = 2, 2, 64, 5
    m.decoder.num_layers, m.decoder.num_heads, m.decoder.ffn_dim = 1, 2, 64
    m.encoder.dropout = m.decoder.dropout = m.predictor.dropout = 0.0
    for key, value in model_overrides.items():
        setattr(m, key, value)
    return cfg


def tiny_model(name: str, seed: int = 0, **model_overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(tiny_config(name, **model_overrides), vocab_size=VOCAB, input_dim=FEAT)


def toy_batch(seed: int = 0, frames_per_token: int = 6, noise: float = 0.1) -> dict:
    """Two utterances whose features are per-token prototypes held for a few frames (like toy_seq2seq)."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.randn(VOCAB, FEAT, generator=g)
    seqs = [[5, 6, 6, 7, 9], [8, 3, 10]]  # a repeated letter must stay separable
    feats = []
    for seq in seqs:
        per = []
        for tok in seq:
            per.append(protos[tok].repeat(frames_per_token, 1))
            per.append(torch.zeros(2, FEAT))  # a short gap keeps repeats apart
        feats.append(torch.cat(per) + noise * torch.randn(len(seq) * (frames_per_token + 2), FEAT, generator=g))
    feat_lens = torch.tensor([f.size(0) for f in feats])
    padded = torch.zeros(len(seqs), int(feat_lens.max()), FEAT)
    tokens = torch.zeros(len(seqs), max(map(len, seqs)), dtype=torch.long)
    for i, (f, s) in enumerate(zip(feats, seqs)):
        padded[i, : f.size(0)] = f
        tokens[i, : len(s)] = torch.tensor(s)
    return {"feats": padded, "feat_lens": feat_lens, "tokens": tokens, "token_lens": torch.tensor([len(s) for s in seqs]), "seqs": seqs}


def overfit_one_batch(model: torch.nn.Module, batch: dict, *, steps: int = 150, lr: float = 3e-3) -> tuple[float, dict]:
    """Adam on one batch for ``steps`` steps: (the first loss, the loss dict in eval mode afterwards)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    first = None
    for _ in range(steps):
        out = model(batch["feats"], batch["feat_lens"], batch["tokens"], batch["token_lens"])
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = first if first is not None else out["loss"].item()
    model.eval()
    return first, model(batch["feats"], batch["feat_lens"], batch["tokens"], batch["token_lens"])


def assert_checkpoint_decodes_as_trained(cfg: ExperimentConfig, tmp_path: Path) -> tuple[torch.nn.Module, ExperimentConfig]:
    """Build ``cfg``'s CTC model, save it as training does, load it as eval/infer/serve do, and check
    both give the same CTC log-probs; returns (the loaded model, its config) for further checks."""
    cfg.data.feat_dim = FEAT
    tok = CharTokenizer.from_alphabet()
    torch.manual_seed(0)
    model = build_model(cfg, tok.vocab_size, FEAT).eval()
    path = tmp_path / "model.pt"
    save_checkpoint(path, {"model": model.state_dict(), "config": config_to_dict(cfg), "tokenizer": tok.to_json()})
    loaded, _, loaded_cfg = load_for_inference(path)
    feats, lens = torch.randn(2, 40, FEAT), torch.tensor([40, 31])
    torch.testing.assert_close(loaded.ctc_log_probs(feats, lens)[0], model.ctc_log_probs(feats, lens)[0])
    return loaded, loaded_cfg
