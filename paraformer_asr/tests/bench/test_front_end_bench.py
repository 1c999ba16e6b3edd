import subprocess
import sys
from pathlib import Path

import pytest
import torch

from src.bench.front_end import IMPLS, bench_front_end, conv2d_features, markdown, tap_linear_features
from src.models.subsampling import Conv2dSubsampling

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("features", [conv2d_features, tap_linear_features])
def test_the_compared_paths_compute_our_front_end(features):
    """Each benchmarked alternative is the same function as ours: values and weight gradients (float64)."""
    torch.manual_seed(0)
    sub = Conv2dSubsampling(input_dim=17, d_model=8, ratio=4, channels=5).double()
    x = torch.randn(3, 23, 17, dtype=torch.float64)
    results = []
    for f in (lambda s, inp: s._features(inp), features):
        y = f(sub, x)
        results.append((y, *torch.autograd.grad((y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum(), list(sub.conv.parameters()))))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_bench_rows_hold_positive_times_and_their_ratios():
    rows = bench_front_end(((2, 15, 9, 3), (1, 7, 7, 2)), warmup=0, repeats=2)
    assert [(r["batch"], r["frames"], r["bins"], r["channels"]) for r in rows] == [(2, 15, 9, 3), (1, 7, 7, 2)]
    for r in rows:
        assert all(r[f"{i}_ms"] > 0 for i in IMPLS) and r["ours_over_ours"] == 1.0
        assert abs(r["conv2d_over_ours"] - r["conv2d_ms"] / r["ours_ms"]) < 1e-12
    table = markdown(rows)
    assert table.count("\n") == 3 and "| 2 | 15 | 9 | 3 |" in table
    for impls in (IMPLS, ("ours",), ("conv2d", "tap_linear")):  # every row has the header's columns, none empty
        lines = markdown(bench_front_end(((1, 7, 7, 2),), impls=impls, warmup=0, repeats=1), impls).splitlines()
        assert len({line.count("|") for line in lines}) == 1 and "|  |" not in "".join(lines), lines


def test_script_rejects_a_malformed_shape():
    out = subprocess.run([sys.executable, "scripts/bench_front_end.py", "--shapes", "32x336x80"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "write BxTxFxC" in out.stderr
