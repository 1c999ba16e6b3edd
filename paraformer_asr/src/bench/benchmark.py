"""Speed benchmark: training utterances/s, decoding real-time factor, Paraformer vs AR, math vs sdpa.

What ``scripts/benchmark.py`` runs to fill in docs/BENCHMARKS.md:

1. **Training** utterances/s per model config: one optimizer step is
   ``zero_grad -> forward (dict of losses) -> backward -> clip -> AdamW step``, as in
   ``src/training/trainer.py`` (fp32), on a fixed toy training batch.
2. **Decoding RTF** = decode seconds / audio seconds (10 ms frames), greedy, at each
   batch size, on synthetic toy utterances of 3-6 s (longer texts than the training
   split; see :func:`long_utterances`). The whole ``decode`` is timed: encoder, CIF or
   CTC head, decoder, and the Python search loop.
3. **Paraformer speed-up** over ``transformer_ar`` = RTF(transformer_ar) / RTF(paraformer).
4. **Encoder attention** math vs sdpa: forward time of the encoder alone at a few lengths.

Random weights and the AR decoder: an untrained AR decoder stops at once or runs to
its max length, so by default (``ar_length="reference"``) it decodes exactly as many
tokens as the utterance's reference text has (plus the final step in which <eos> would
be predicted): the <eos> test is switched off and nothing else changes. With trained
checkpoints (``checkpoint_dir``) ``ar_length="eos"`` decodes as in ``eval.py``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from src.data.batching import collate, feature_dim
from src.data.tokenizer import CharTokenizer
from src.data.toy_seq2seq import WORDS, ToySeq2Seq, make_prototypes, plan_frames, synthesize
from src.decode.greedy import ar_greedy_search
from src.decode.hypothesis import SOS_EOS_ID
from src.models import build_model
from src.metrics.asr_metrics import ASRMetrics
from src.models.encoder import Encoder
from src.bench.bench_utils import PeakMemory, machine_info, precision_choice, summarize, sync, time_interleaved
from src.training.inference import load_for_inference
from src.training.trainer import build_optimizer
from src.utils.config import DataConfig, ExperimentConfig, load_config
from src.utils.tensor_utils import resolve_device

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NEVER_EMITTED = -1  # an <eos> id no argmax can return: the forced-length AR search never stops early


@dataclass
class BenchmarkConfig:
    """The single source of the benchmark's defaults (``scripts/benchmark.py`` flags mirror these)."""

    configs: list[str] = field(default_factory=lambda: [
        "configs/paraformer_base.yaml", "configs/ctc_baseline.yaml", "configs/transformer_ar.yaml"])
    overrides: list[str] = field(default_factory=list)  # applied to every config, e.g. model.attention_impl=sdpa
    train_batch_size: int = 32  # = training.batch_size of the default configs
    train_attention_impls: list[str] = field(default_factory=lambda: ["math", "sdpa"])
    precisions: list[str] = field(default_factory=lambda: ["fp32", "bf16"])  # bf16 = CPU/CUDA autocast, as training.amp
    train_compile: bool = False  # also train each path torch.compile'd (rows "<attention>+compile")
    utterances: int = 16  # decoded utterances (the same set at every batch size)
    min_frames: int = 300  # 3 s of 10 ms frames
    max_frames: int = 600  # 6 s
    batch_sizes: list[int] = field(default_factory=lambda: [1, 16])
    ar_length: str = "reference"  # reference: AR decodes the reference token count; eos: stops at <eos>
    checkpoint_dir: str = ""  # trained models: <dir>/<model.name>.pt or <dir>/<run>/checkpoints/best.pt
    encoder_lengths: list[int] = field(default_factory=lambda: [300, 600, 1200, 2400])  # frames T
    encoder_batch: int = 8
    warmup: int = 2  # untimed runs before each measurement
    repeats: int = 7  # timed runs; tables show their median and min-max
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # torch intra-op threads; 0 = torch's default
    seed: int = 0


# --quick: seconds, for smoke tests and CI; the numbers mean nothing.
QUICK = dict(train_batch_size=2, utterances=2, min_frames=100, max_frames=160, batch_sizes=[1, 2],
             encoder_lengths=[160], encoder_batch=2, warmup=1, repeats=1)


# --------------------------------------------------------------------------- #
# Inputs                                                                       #
# --------------------------------------------------------------------------- #
def _planned_frames(text: str, seed: list[int], cfg: DataConfig) -> int:
    durations, gaps = plan_frames(text, np.random.default_rng(seed), cfg)
    return int(durations.sum() + gaps.sum()) + 2 * cfg.silence_frames


def long_utterances(cfg: DataConfig, *, count: int, min_frames: int, max_frames: int,
                    seed: int) -> list[tuple[torch.Tensor, str]]:
    """``count`` toy utterances (features (T, F), text) with min_frames <= T <= max_frames.

    The toy task's own utterances are 1-4 words (about 1 s); here words are appended
    until the planned length reaches a random target in [min_frames, max_frames], using
    the same synthesiser, so the features look like the training data, only longer.
    """
    prototypes = make_prototypes(cfg.seed, cfg.feat_dim)
    rng = np.random.default_rng([seed, 2024])
    out = []
    for i in range(count):
        utt_seed = [seed, i]  # synthesize() redraws the same durations from this seed
        target = int(rng.integers(min_frames, max_frames + 1))
        text, frames, misses = "", 0, 0
        while frames < target and not (misses > 100 and frames >= min_frames):
            word = WORDS[int(rng.integers(len(WORDS)))]
            candidate = f"{text} {word}" if text else word
            n = _planned_frames(candidate, utt_seed, cfg)
            if n > max_frames:
                misses += 1
                continue
            text, frames = candidate, n
        if not min_frames <= frames <= max_frames:
            raise ValueError(f"could not build an utterance of {min_frames}-{max_frames} frames; widen the range")
        feats = synthesize(text, np.random.default_rng(utt_seed), cfg, prototypes)  # (T, F)
        out.append((feats, text))
    return out


def pad_batch(feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """List of (T_b, F) -> zero-padded (B, T, F) and lengths (B,)."""
    lens = torch.tensor([f.shape[0] for f in feats], dtype=torch.long)  # (B,)
    batch = torch.zeros(len(feats), int(lens.max()), feats[0].shape[1])  # (B, T, F)
    for b, f in enumerate(feats):
        batch[b, : f.shape[0]] = f
    return batch, lens


def resolve_config(path: str, overrides: list[str]) -> ExperimentConfig:
    p = Path(path)
    if not p.is_file() and (PROJECT_ROOT / p).is_file():
        p = PROJECT_ROOT / p
    return load_config(p, overrides)


def find_checkpoint(directory: str, model_name: str) -> Path | None:
    """``<dir>/<name>.pt``, ``<dir>/<name>/checkpoints/best.pt``, else ``<dir>/*<name>*/checkpoints/best.pt``."""
    if not directory:
        return None
    root = Path(directory)
    for p in [root / f"{model_name}.pt", root / model_name / "checkpoints" / "best.pt",
              *sorted(root.glob(f"*{model_name}*/checkpoints/best.pt"))]:
        if p.is_file():
            return p
    return None


# --------------------------------------------------------------------------- #
# Measurements                                                                 #
# --------------------------------------------------------------------------- #
def bench_training(cfg: ExperimentConfig, bench: BenchmarkConfig, device: torch.device) -> list[dict[str, Any]]:
    """Utterances/s of full optimizer steps, one row per attention path x precision.

    Every path (``train_attention_impls`` x ``precisions``) trains its own copy of the model (same initial weights) on the first
    ``train_batch_size`` toy training utterances; the timed steps alternate between the
    paths. Peak memory is taken over each path's warm-up steps, which include the first
    AdamW step (where the optimizer state is allocated).
    """
    tokenizer = CharTokenizer.from_alphabet()
    data = ToySeq2Seq(cfg.data, split="train", tokenizer=tokenizer, subsampling=cfg.model.subsampling)
    batch = collate([data[i] for i in range(bench.train_batch_size)])
    feats, feat_lens = batch["feats"].to(device), batch["feat_lens"].to(device)  # (B, T, F), (B,)
    tokens, token_lens = batch["tokens"].to(device), batch["token_lens"].to(device)  # (B, L), (B,)
    max_norm = cfg.training.max_grad_norm if cfg.training.max_grad_norm > 0 else float("inf")

    def make_step(impl: str, precision: str) -> tuple[Callable[[], None], int]:
        torch.manual_seed(bench.seed)
        attention, compiled = impl.removesuffix("+compile"), impl.endswith("+compile")
        c = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, attention_impl=attention))
        model = build_model(c, tokenizer.vocab_size, feature_dim(c)).to(device).train()
        optimizer = build_optimizer(model, c)
        amp = precision_choice(precision, device)
        # "+compile": the forward through torch.compile (the warm-up steps pay for compiling).
        forward = torch.compile(model) if compiled else model

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            with amp.autocast():  # as in the trainer: only the forward; backward follows the forward's dtypes
                loss = forward(feats, feat_lens, tokens, token_lens)["loss"]
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            optimizer.step()

        return step, sum(p.numel() for p in model.parameters())

    steps, params, peaks = {}, {}, {}
    memory = PeakMemory(device)
    impls = bench.train_attention_impls + ([f"{i}+compile" for i in bench.train_attention_impls]
                                           if bench.train_compile else [])
    paths = [(impl, p) for impl in impls for p in bench.precisions]
    for path in paths:
        steps[path], params[path] = make_step(*path)
        memory.start()
        for _ in range(max(bench.warmup, 1)):
            steps[path]()
        peaks[path] = memory.stop()
    seconds = time_interleaved(steps, warmup=0, repeats=bench.repeats, device=device)
    b = bench.train_batch_size
    return [{"model": cfg.model.name, "attention": impl, "precision": precision, "batch_size": b,
             "utterances_per_s": summarize([b / s for s in seconds[(impl, precision)]]),
             "mean_utterance_s": float(feat_lens.float().mean()) * cfg.features.frame_shift_ms / 1000,
             "peak_mem_mb": peaks[(impl, precision)], "memory_method": memory.method,
             "num_params": params[(impl, precision)]}
            for impl, precision in paths]


@torch.inference_mode()
def forced_length_ar_greedy(model: torch.nn.Module, feats: torch.Tensor, feat_lens: torch.Tensor,
                            num_tokens: torch.Tensor) -> list:
    """``TransformerAR.decode(method="greedy")`` with the <eos> stop switched off.

    feats (B, T, F), feat_lens (B,), num_tokens (B,): row b emits exactly num_tokens[b]
    tokens, i.e. num_tokens[b] + 1 decoder steps, the cost of a decode that ends in <eos>.
    """
    enc, enc_lens = model.encoder(feats, feat_lens)  # (B, T', D)
    state = model.decoder.init_state(enc, enc_lens)
    return ar_greedy_search(model.decoder.step, state, batch_size=enc.size(0), max_lens=num_tokens,
                            sos=SOS_EOS_ID, eos=NEVER_EMITTED, device=enc.device)


def decoder_fn(model: torch.nn.Module, name: str, ar_length: str) -> Callable[..., list]:
    """(feats, feat_lens, ref_lens) -> hypotheses: greedy ``decode``, or the forced-length AR search."""
    if name == "transformer_ar" and ar_length == "reference":
        return lambda feats, lens, ref_lens: forced_length_ar_greedy(model, feats, lens, ref_lens)
    if ar_length not in ("reference", "eos"):
        raise ValueError(f"ar_length={ar_length!r} must be 'reference' or 'eos'")

    def decode(feats: torch.Tensor, lens: torch.Tensor, ref_lens: torch.Tensor) -> list:
        with torch.inference_mode():
            return model.decode(feats, lens, method="greedy")

    return decode


@dataclass
class DecodeCase:
    """One model ready to be timed: for each batch size, a run over all utterances."""

    name: str
    cfg: ExperimentConfig
    weights: str  # checkpoint path or "random"
    audio_s: float
    utts: list[tuple[torch.Tensor, str]]
    runs: dict[int, Callable[[], None]]
    out_tokens: dict[int, list[list[int]]]  # hypotheses (token ids) of the latest run, per batch size
    tokenizer: CharTokenizer | None = None
    precision: str = "fp32"


def decode_case(model: torch.nn.Module, cfg: ExperimentConfig, bench: BenchmarkConfig,
                utts: list[tuple[torch.Tensor, str]], tokenizer: CharTokenizer, device: torch.device,
                checkpoint: Path | None, precision: str = "fp32") -> DecodeCase:
    """The greedy decode of ``utts`` at every batch size in ``bench.batch_sizes``, batched once up front."""
    model.eval()
    decode = decoder_fn(model, cfg.model.name, bench.ar_length)
    amp = precision_choice(precision, device)
    case = DecodeCase(cfg.model.name, cfg, str(checkpoint) if checkpoint else "random",
                      sum(f.shape[0] for f, _ in utts) * cfg.features.frame_shift_ms / 1000, utts, {}, {},
                      tokenizer, precision)
    for b in bench.batch_sizes:
        batches = []
        for i in range(0, len(utts), b):
            chunk = utts[i : i + b]
            feats, lens = pad_batch([f for f, _ in chunk])  # (B, T, F), (B,)
            ref_lens = torch.tensor([len(tokenizer.encode(t)) for _, t in chunk], dtype=torch.long)  # (B,)
            batches.append((feats.to(device), lens.to(device), ref_lens.to(device)))
        out_tokens: list[list[int]] = []

        def run(batches: list = batches, out_tokens: list[list[int]] = out_tokens) -> None:
            out_tokens.clear()
            with amp.autocast():
                for feats, lens, ref_lens in batches:
                    out_tokens.extend(h.tokens for h in decode(feats, lens, ref_lens))

        case.runs[b], case.out_tokens[b] = run, out_tokens
    return case


def bench_decoding(cases: list[DecodeCase], bench: BenchmarkConfig, device: torch.device) -> list[dict[str, Any]]:
    """Greedy RTF of every case at every batch size; the cases' runs alternate, so load drift hits all alike."""
    rows = []
    for b in bench.batch_sizes:
        seconds = time_interleaved({str(i): c.runs[b] for i, c in enumerate(cases)},
                                   warmup=bench.warmup, repeats=bench.repeats, device=device)
        for i, c in enumerate(cases):
            out = [len(h) for h in c.out_tokens[b]]
            scores = ASRMetrics()  # accuracy of the timed decodes, so speed is compared at a known CER
            for hyp, (_, text) in zip(c.out_tokens[b], c.utts):
                scores.update(text, c.tokenizer.decode(hyp))
            rows.append({"cer": scores.compute()["cer"], "model": c.name, "batch_size": b, "precision": c.precision,
                         "attention": c.cfg.model.attention_impl,
                         "rtf": summarize([s / c.audio_s for s in seconds[str(i)]]), "audio_seconds": c.audio_s,
                         "utterances": len(c.utts), "mean_output_tokens": sum(out) / max(len(out), 1),
                         "mean_reference_tokens": sum(len(t) for _, t in c.utts) / len(c.utts),
                         "ar_length": bench.ar_length if c.name == "transformer_ar" else None,
                         "weights": c.weights})
    return rows


@torch.inference_mode()
def bench_encoder_attention(cfg: ExperimentConfig, bench: BenchmarkConfig, device: torch.device) -> list[dict[str, Any]]:
    """Encoder forward ms per batch, math vs sdpa, same weights, at each of ``encoder_lengths`` frames."""
    torch.manual_seed(bench.seed)
    m = cfg.model
    encoders = {}
    for impl in ("math", "sdpa"):
        encoders[impl] = Encoder.from_config(
            m.encoder, input_dim=feature_dim(cfg), d_model=m.d_model, subsampling=m.subsampling,
            attention_impl=impl, subsampling_channels=m.subsampling_channels).to(device).eval()
    encoders["sdpa"].load_state_dict(encoders["math"].state_dict())
    rows = []
    for t in bench.encoder_lengths:
        feats = torch.randn(bench.encoder_batch, t, feature_dim(cfg), device=device)  # (B, T, F)
        lens = torch.full((bench.encoder_batch,), t, dtype=torch.long, device=device)  # (B,)
        row: dict[str, Any] = {"frames": t, "batch_size": bench.encoder_batch}
        runs = {impl: (lambda enc=enc: enc(feats, lens)) for impl, enc in encoders.items()}
        seconds = time_interleaved(runs, warmup=bench.warmup, repeats=bench.repeats, device=device)
        for impl, times in seconds.items():
            row[f"{impl}_ms"] = summarize([1000 * s for s in times])
        row["subsampled_frames"] = int(encoders["math"](feats, lens)[1][0])
        row["sdpa_speedup"] = row["math_ms"]["median"] / row["sdpa_ms"]["median"]
        rows.append(row)
    return rows


def run_benchmark(bench: BenchmarkConfig, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every measurement of ``bench``; returns the JSON-ready result."""
    if bench.threads > 0:
        torch.set_num_threads(bench.threads)
    device = resolve_device(bench.device)
    machine = machine_info(device)
    log(f"machine: {machine}")
    configs = [resolve_config(p, bench.overrides) for p in bench.configs]

    train_rows = []
    for cfg in configs:
        for row in bench_training(cfg, bench, device):
            train_rows.append(row)
            log(f"train {row['model']} {row['attention']} {row['precision']}: "
                f"{row['utterances_per_s']['median']:.1f} utt/s")

    cases, cache = [], {}
    tokenizer = CharTokenizer.from_alphabet()
    for cfg in configs:
        ckpt = find_checkpoint(bench.checkpoint_dir, cfg.model.name)
        if ckpt is not None:
            model, tok, cfg = load_for_inference(ckpt, device)
        else:
            torch.manual_seed(bench.seed)
            model, tok = build_model(cfg, tokenizer.vocab_size, feature_dim(cfg)).to(device), tokenizer
        # Toy-synthesised features of the model's input width (also for a checkpoint trained on audio).
        data_cfg = dataclasses.replace(cfg.data, feat_dim=feature_dim(cfg))
        key = (data_cfg.seed, data_cfg.feat_dim)
        if key not in cache:  # the same utterances for every model that reads the same features
            cache[key] = long_utterances(data_cfg, count=bench.utterances, min_frames=bench.min_frames,
                                         max_frames=bench.max_frames, seed=bench.seed)
        for precision in bench.precisions:  # the same model and utterances in each precision
            cases.append(decode_case(model, cfg, bench, cache[key], tok, device, ckpt, precision))
    rtf_rows = bench_decoding(cases, bench, device)
    for row in rtf_rows:
        log(f"decode {row['model']} {row['precision']} batch {row['batch_size']}: RTF {row['rtf']['median']:.4f} "
            f"({row['mean_output_tokens']:.1f} tokens/utt, weights {row['weights']})")

    speedup = {}
    for b in bench.batch_sizes:
        rtf = {r["model"]: r["rtf"]["median"] for r in rtf_rows if r["batch_size"] == b and r["precision"] == "fp32"}
        if "paraformer" in rtf and "transformer_ar" in rtf:
            speedup[str(b)] = rtf["transformer_ar"] / rtf["paraformer"]

    encoder_rows = bench_encoder_attention(configs[0], bench, device)
    for r in encoder_rows:
        log(f"encoder T={r['frames']}: math {r['math_ms']['median']:.1f} ms, sdpa {r['sdpa_ms']['median']:.1f} ms")
    sync(device)
    return {"machine": machine, "settings": dataclasses.asdict(bench), "train": train_rows, "decode": rtf_rows,
            "paraformer_speedup_over_ar": speedup, "encoder_attention": encoder_rows,
            "notes": {
                "rtf": "decode seconds / audio seconds (10 ms frames); greedy; whole decode() timed",
                "ar_length": "reference: transformer_ar emits exactly the reference token count (<eos> stop off); "
                             "eos: it stops at <eos> (trained checkpoints only)",
                "memory": ("CUDA max_memory_allocated (tensors only)" if device.type == "cuda" else
                           "CPU: peak RSS during the measurement minus RSS before it (whole process, not only tensors)"),
                "encoder_attention": f"encoder of {bench.configs[0]} (random weights), forward only, "
                                     "inference_mode, same weights for both paths, math and sdpa runs alternating",
            }}


__all__ = ["QUICK", "BenchmarkConfig", "forced_length_ar_greedy", "long_utterances", "run_benchmark"]
