"""The time-to-accuracy harness: stops at the first epoch that reaches the targets, and only then."""

import pytest

from src.bench.time_to_accuracy import TimeToAccuracyConfig, markdown_table, parse_variant, run_time_to_accuracy

SMALL = ["data.train_size=16", "data.val_size=4", "data.test_size=4", "training.batch_size=8",
         "training.num_epochs=3", "training.device=cpu"]


def _run(tmp_path, token_accuracy: float) -> dict:
    tta = TimeToAccuracyConfig(config="configs/tiny_ctc.yaml", overrides=SMALL, token_accuracy=token_accuracy,
                               sequence_accuracy=0.0, runs_dir=str(tmp_path),
                               variants=["fp32=training.amp=false", "bf16=training.amp=true"])
    return run_time_to_accuracy(tta, log=lambda _: None)


def test_stops_at_the_first_epoch_that_reaches_the_target(tmp_path):
    result = _run(tmp_path, token_accuracy=0.0)  # any model reaches 0.0: stop after epoch 1 of 3
    assert [(r["variant"], r["reached"], r["epoch"], r["step"]) for r in result["rows"]] == [
        ("fp32", True, 1, 2), ("bf16", True, 1, 2)]  # 16 utterances / batch 8 = 2 steps per epoch
    assert result["rows"][0]["amp"].startswith("fp32") and result["rows"][1]["amp"].startswith("bf16")
    assert all(v["all_reached"] for v in result["summary"].values())
    assert "| fp32 | 0 |" in markdown_table(result)


def test_an_unreachable_target_trains_every_epoch_and_says_so(tmp_path):
    result = _run(tmp_path, token_accuracy=1.01)
    assert [(r["reached"], r["epoch"]) for r in result["rows"]] == [(False, 3), (False, 3)]
    assert "NOT reached" in markdown_table(result)


def test_parse_variant():
    assert parse_variant("bf16=training.amp=true,model.attention_impl=sdpa") == (
        "bf16", ["training.amp=true", "model.attention_impl=sdpa"])
    with pytest.raises(ValueError, match="name=section.key=value"):
        parse_variant("training.amp")
