"""Smoke test of scripts/benchmark.py --quick: it runs, and the JSON and table hold what the doc promises."""

import importlib.util
import json
import math
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def _load_script():
    spec = importlib.util.spec_from_file_location("seg_benchmark_script", PROJECT / "scripts" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_quick_benchmark_json_and_markdown(tmp_path):
    out, md = tmp_path / "bench.json", tmp_path / "table.md"
    script = _load_script()
    # In-process (torch is already imported) and on one thread: a few seconds on a shared CPU.
    code = script.main(["--quick", "--threads", "1", "--repeats", "2", "--out", str(out), "--markdown-out", str(md)])
    assert code == 0
    result = json.loads(out.read_text())
    assert {"machine", "settings", "matmul_peak_gflops", "rows", "command"} <= set(result)
    assert {"cpu", "logical_cores", "torch", "threads", "device", "date_utc"} <= set(result["machine"])
    assert _positive(result["matmul_peak_gflops"]["median"])
    rows = result["rows"]
    # unet: one row per precision (no attention path); unet_transformer: math and sdpa, each in fp32 and bf16.
    assert [(r["model"], r["attention"], r["precision"]) for r in rows] == [
        ("unet", "n/a", "fp32"), ("unet", "n/a", "bf16"),
        ("unet_transformer", "math", "fp32"), ("unet_transformer", "math", "bf16"),
        ("unet_transformer", "sdpa", "fp32"), ("unet_transformer", "sdpa", "bf16")]
    assert isinstance(result["machine"]["bf16_native"], bool) and result["machine"]["bf16_reason"]
    assert _positive(result["matmul_peak_bf16_gflops"]["median"])
    for r in rows:
        for key in ("train_images_per_s", "infer_images_per_s"):
            assert all(_positive(r[key][s]) for s in ("median", "min", "max")), (key, r[key])
            assert r[key]["min"] <= r[key]["median"] <= r[key]["max"]
        for key in ("forward_flops_per_image", "train_flops_per_image", "train_gflops_per_s", "infer_gflops_per_s",
                    "train_fraction_of_peak", "infer_fraction_of_peak", "peak_total_mb"):
            assert _positive(r[key]), (key, r[key])
        assert r["train_flops_per_image"] > r["forward_flops_per_image"]
        assert r["train_peak_mem_mb"] >= 0 and r["infer_peak_mem_mb"] >= 0
    table = md.read_text()
    assert "| model | size | attention |" in table and "Machine:" in table and "\nbf16: " in table
    assert table.count("\n| unet") == 6 + 3  # the full table, then one side-by-side row per fp32/bf16 pair
    assert "| fp32 train img/s | bf16 train img/s | bf16 / fp32 |" in table
    assert table.count("the 1.5x target") == 3  # one verdict per (model, size, attention) vs its fp32 NCHW row
