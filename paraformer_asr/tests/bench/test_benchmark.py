"""Smoke test of scripts/benchmark.py --quick, and the pieces whose correctness the numbers rely on."""

import importlib.util
import json
import math
from pathlib import Path

import torch

from src.data.tokenizer import CharTokenizer
from src.models import build_model
from src.bench.benchmark import forced_length_ar_greedy, long_utterances
from src.utils.config import DataConfig, load_config

PROJECT = Path(__file__).resolve().parents[2]


def _load_script():
    spec = importlib.util.spec_from_file_location("asr_benchmark_script", PROJECT / "scripts" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_long_utterances_fall_in_the_frame_range():
    utts = long_utterances(DataConfig(feat_dim=16), count=3, min_frames=300, max_frames=600, seed=0)
    for feats, text in utts:
        assert 300 <= feats.shape[0] <= 600 and feats.shape[1] == 16 and text


def test_forced_length_ar_emits_exactly_the_requested_tokens():
    cfg = load_config(PROJECT / "configs" / "tiny_transformer_ar.yaml")
    torch.manual_seed(0)
    model = build_model(cfg, CharTokenizer.from_alphabet().vocab_size, cfg.data.feat_dim).eval()
    feats, lens = torch.randn(2, 40, cfg.data.feat_dim), torch.tensor([40, 30])  # (B, T, F), (B,)
    calls = []
    step = model.decoder.step
    model.decoder.step = lambda tokens, state: (calls.append(tokens.shape[0]), step(tokens, state))[1]
    hyps = forced_length_ar_greedy(model, feats, lens, torch.tensor([5, 9]))
    # 9 tokens + the step where <eos> would come, whatever the random weights predict.
    assert len(calls) == 10
    # Specials (blank, sos/eos, unk) are dropped from a hypothesis, so at most the requested count remains.
    assert [len(h.tokens) <= n for h, n in zip(hyps, (5, 9))] == [True, True]


def test_quick_benchmark_json_and_markdown(tmp_path):
    out, md = tmp_path / "bench.json", tmp_path / "table.md"
    # In-process (torch is already imported) and on one thread: a few seconds on a shared CPU.
    code = _load_script().main(["--quick", "--threads", "1", "--out", str(out), "--markdown-out", str(md)])
    assert code == 0
    result = json.loads(out.read_text())
    assert {"machine", "settings", "train", "decode", "paraformer_speedup_over_ar", "encoder_attention",
            "command"} <= set(result)
    assert {"cpu", "logical_cores", "torch", "threads", "device", "date_utc"} <= set(result["machine"])
    assert {(r["model"], r["attention"], r["precision"]) for r in result["train"]} == {
        (m, a, p) for m in ("paraformer", "ctc", "transformer_ar") for a in ("math", "sdpa") for p in ("fp32", "bf16")}
    assert result["machine"]["bf16"].split(" ")[0] in ("native", "emulated")
    for r in result["train"]:
        assert all(_positive(r["utterances_per_s"][k]) for k in ("median", "min", "max"))
    assert {(r["model"], r["batch_size"], r["precision"]) for r in result["decode"]} == {
        (m, b, p) for m in ("paraformer", "ctc", "transformer_ar") for b in (1, 2) for p in ("fp32", "bf16")}
    for r in result["decode"]:
        assert all(_positive(r["rtf"][k]) for k in ("median", "min", "max")) and _positive(r["audio_seconds"])
        assert 0.0 <= r["cer"] and math.isfinite(r["cer"])  # random weights: any CER, but a real number
        if r["model"] == "transformer_ar":  # forced length: the reference token count
            assert r["mean_output_tokens"] <= r["mean_reference_tokens"]
    assert set(result["paraformer_speedup_over_ar"]) == {"1", "2"}
    assert all(_positive(x) for x in result["paraformer_speedup_over_ar"].values())
    for r in result["encoder_attention"]:
        assert _positive(r["math_ms"]["median"]) and _positive(r["sdpa_ms"]["median"]) and _positive(r["sdpa_speedup"])
    table = md.read_text()
    assert "Machine:" in table and "| paraformer | fp32 | 1 |" in table and "speed-up over transformer_ar" in table
    assert "bf16: " in table and "fp32 and bf16 side by side" in table and "bf16 / fp32 =" in table


def _verdict_for(speedup: float, cer_pf: float, cer_ar: float, weights: str = "best.pt") -> str:
    from src.bench.bench_report import target_verdicts

    decode = [{"model": m, "batch_size": 1, "cer": c, "weights": weights}
              for m, c in (("paraformer", cer_pf), ("transformer_ar", cer_ar))]
    result = {"paraformer_speedup_over_ar": {"1": speedup}, "decode": decode, "encoder_attention": [], "train": []}
    return target_verdicts(result)


def test_speedup_target_needs_trained_models_at_a_similar_cer():
    from src.bench.bench_report import SIMILAR_CER, SPEEDUP_TARGET

    fast = SPEEDUP_TARGET + 1
    assert "meets" in _verdict_for(fast, 0.01, 0.01 + SIMILAR_CER / 2)
    # Fast, but the AR baseline transcribes far worse: the speed-up is not at a similar CER.
    assert "MISSES" in _verdict_for(fast, 0.002, 0.002 + 2 * SIMILAR_CER)
    assert "NOT at a similar CER" in _verdict_for(fast, 0.002, 0.002 + 2 * SIMILAR_CER)
    # Random weights time the search but say nothing about accuracy.
    assert "MISSES" in _verdict_for(fast, 0.9, 0.9, weights="random")
    # Similar CER, too slow.
    assert "MISSES" in _verdict_for(SPEEDUP_TARGET - 1, 0.01, 0.01)


def test_bf16_training_target_compares_bf16_with_fp32_of_the_same_path():
    from src.bench.bench_report import BF16_TRAIN_TARGET, target_verdicts

    def train(fp32: float, bf16: float) -> list[dict]:
        return [{"model": "ctc", "attention": "sdpa", "precision": p, "utterances_per_s": {"median": v}}
                for p, v in (("fp32", fp32), ("bf16", bf16))]

    result = {"paraformer_speedup_over_ar": {}, "decode": [], "encoder_attention": [],
              "machine": {"bf16": "native (cpu has amx_bf16)"}}
    assert "meets the >= 1.5x" in target_verdicts({**result, "train": train(100.0, 100.0 * BF16_TRAIN_TARGET + 1)})
    assert "MISSES the >= 1.5x" in target_verdicts({**result, "train": train(100.0, 100.0 * BF16_TRAIN_TARGET - 1)})


def test_train_compile_adds_compiled_rows_of_every_path(monkeypatch):
    # torch.compile itself is exercised by the recorded benchmark, not here (it takes minutes
    # on the CPU); this checks that --train-compile trains each path through torch.compile.
    from src.bench import benchmark as bench_mod

    compiled = []
    monkeypatch.setattr(torch, "compile", lambda model: compiled.append(model) or model)
    bench = bench_mod.BenchmarkConfig(**{**bench_mod.QUICK, "train_compile": True, "precisions": ["fp32"],
                                         "train_attention_impls": ["math"]})
    cfg = bench_mod.resolve_config("configs/ctc_baseline.yaml", [])
    rows = bench_mod.bench_training(cfg, bench, torch.device("cpu"))
    assert [r["attention"] for r in rows] == ["math", "math+compile"]
    assert len(compiled) == 1 and all(_positive(r["utterances_per_s"]["median"]) for r in rows)
