import subprocess
import sys
from pathlib import Path

from src.bench.ctc_loss import bench_ctc_loss, ctc_case, markdown

ROOT = Path(__file__).resolve().parents[2]


def test_ctc_case_shapes_and_lengths():
    logits, targets, input_lens, target_lens = ctc_case(3, 7, 4, 9)
    assert logits.shape == (3, 7, 9) and targets.shape == (3, 4)
    assert input_lens.tolist() == [7, 7, 7]
    assert int(target_lens[0]) == 4 and bool(((target_lens >= 2) & (target_lens <= 4)).all())
    assert bool(((targets >= 1) & (targets < 9)).all())  # never the blank


def test_bench_rows_hold_positive_times_and_their_ratio():
    rows = bench_ctc_loss(((2, 6, 2), (1, 4, 1)), vocab=5, warmup=0, repeats=2)
    assert [(r["batch"], r["frames"], r["labels"]) for r in rows] == [(2, 6, 2), (1, 4, 1)]
    for r in rows:
        assert r["ours_ms"] > 0 and r["torch_ms"] > 0
        assert abs(r["ours_over_torch"] - r["ours_ms"] / r["torch_ms"]) < 1e-12
    table = markdown(rows)
    assert table.count("\n") == 3 and "| 2 | 6 | 2 |" in table


def test_one_impl_has_no_ratio():
    (row,) = bench_ctc_loss(((1, 4, 1),), vocab=4, impls=("ours",), warmup=0, repeats=1)
    assert "torch_ms" not in row and "ours_over_torch" not in row


def test_script_rejects_a_malformed_shape():
    out = subprocess.run([sys.executable, "scripts/bench_ctc_loss.py", "--shapes", "2x5"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "write BxTxL" in out.stderr
