"""Where a training step's time goes: ``torch.profiler`` over a few optimizer steps, fp32 and bf16.

The same step as ``bench_training`` (forward under the precision's autocast, backward,
clipping, AdamW) on the first ``batch_size`` toy training utterances; the table groups the
profiler's events by op and sorts them by self CPU time, so casts (``aten::copy_``,
``aten::_to_copy``), matmuls (``aten::mm``, ``aten::bmm``, ``aten::addmm``) and the
element-wise rest can be compared between the precisions.
"""

from __future__ import annotations

import torch
from torch.profiler import ProfilerActivity, profile

from src.bench.bench_utils import precision_choice
from src.data.batching import collate, feature_dim
from src.data.tokenizer import CharTokenizer
from src.data.toy_seq2seq import ToySeq2Seq
from src.models import build_model
from src.training.trainer import build_optimizer
from src.utils.config import ExperimentConfig


def profile_training_step(cfg: ExperimentConfig, precision: str, *, batch_size: int = 32, steps: int = 3,
                          row_limit: int = 15, seed: int = 0) -> str:
    """The profiler's op table (self CPU time) over ``steps`` optimizer steps, after one warm-up step."""
    device = torch.device("cpu")
    tokenizer = CharTokenizer.from_alphabet()
    data = ToySeq2Seq(cfg.data, split="train", tokenizer=tokenizer, subsampling=cfg.model.subsampling)
    b = collate([data[i] for i in range(batch_size)])
    torch.manual_seed(seed)
    model = build_model(cfg, tokenizer.vocab_size, feature_dim(cfg)).train()
    optimizer = build_optimizer(model, cfg)
    amp = precision_choice(precision, device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with amp.autocast():
            loss = model(b["feats"], b["feat_lens"], b["tokens"], b["token_lens"])["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.training.max_grad_norm)
        optimizer.step()

    step()  # warm-up: allocations, AdamW state, oneDNN kernel selection
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=row_limit)


__all__ = ["profile_training_step"]
