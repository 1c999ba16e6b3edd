"""The profiler table of scripts/profile_step.py, on a tiny config."""

from src.bench.profile_step import profile_training_step
from src.utils.config import load_config


def test_profile_table_lists_matmuls_in_both_precisions():
    cfg = load_config("configs/tiny_ctc.yaml", ["data.train_size=4"])
    for precision in ("fp32", "bf16"):
        table = profile_training_step(cfg, precision, batch_size=2, steps=1, row_limit=40)
        assert "Self CPU" in table and ("aten::mm" in table or "aten::addmm" in table), table
